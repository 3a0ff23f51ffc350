SELECT id, name, qty FROM core_items WHERE id = :id
