SELEC name FROM core_items
