INSERT INTO core_parents (id, name) VALUES (:id, :name)
