SELECT COUNT(*) FROM core_times
