INSERT INTO core_times (id, at) VALUES (:id, :at)
