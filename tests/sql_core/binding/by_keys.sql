-- The rows whose key is in the list :keys (UUIDs).
SELECT id FROM core_values WHERE key_id IN ( :keys ) ORDER BY id
