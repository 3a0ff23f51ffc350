UPDATE core_items SET qty = :qty
