SELECT name FROM core_items WHERE id = :id
