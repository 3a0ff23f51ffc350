SELECT id, name FROM obs_items ORDER BY id
