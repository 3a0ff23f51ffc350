INSERT INTO rel_notes (id) VALUES (:id)
