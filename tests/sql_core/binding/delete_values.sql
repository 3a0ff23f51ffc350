DELETE FROM core_values
