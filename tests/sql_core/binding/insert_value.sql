-- One row of core_values.
INSERT INTO core_values (id, key_id, total, day, at_time, color, doc)
VALUES (:id, :key_id, :total, :day, :at_time, :color, :doc)
