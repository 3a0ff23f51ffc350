UPDATE core_items SET name = :name WHERE id = :id
