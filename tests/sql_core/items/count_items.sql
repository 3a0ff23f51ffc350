SELECT COUNT(*) FROM core_items
