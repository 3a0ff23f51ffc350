UPDATE core_items SET qty = :qty WHERE id = :id
