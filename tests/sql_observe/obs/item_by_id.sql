SELECT id, name FROM obs_items WHERE id = :id
