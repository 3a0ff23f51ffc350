DELETE FROM repl_notes
