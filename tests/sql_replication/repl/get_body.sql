SELECT body FROM repl_notes WHERE id = :id
