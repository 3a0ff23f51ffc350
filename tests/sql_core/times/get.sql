SELECT at FROM core_times WHERE id = :id
