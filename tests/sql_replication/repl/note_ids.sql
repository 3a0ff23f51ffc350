SELECT id FROM repl_notes ORDER BY id
