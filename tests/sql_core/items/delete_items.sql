DELETE FROM core_items
