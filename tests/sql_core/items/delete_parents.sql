DELETE FROM core_parents
