SELECT id, name, qty FROM core_items ORDER BY id
