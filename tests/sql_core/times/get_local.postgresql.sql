SELECT local_at FROM core_times WHERE id = :id
