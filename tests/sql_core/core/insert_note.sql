INSERT INTO core_notes (id) VALUES (:id)
