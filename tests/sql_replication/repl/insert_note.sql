INSERT INTO repl_notes (id, body) VALUES (:id, :body)
