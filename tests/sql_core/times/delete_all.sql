DELETE FROM core_times
