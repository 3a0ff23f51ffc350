SELECT id FROM core_times WHERE at = :at ORDER BY id
