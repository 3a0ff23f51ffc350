UPDATE repl_notes SET body = :body WHERE id = :id
