-- The ids of the rows holding exactly these values.
SELECT id FROM core_values
WHERE key_id = :key_id AND total = :total AND day = :day AND at_time = :at_time AND color = :color
ORDER BY id
