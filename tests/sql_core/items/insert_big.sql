INSERT INTO core_items (id, name, big) VALUES (:id, :name, :big)
