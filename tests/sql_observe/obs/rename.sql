-- Renames one item (takes the row's write lock).
UPDATE obs_items SET name = :name WHERE id = :id
