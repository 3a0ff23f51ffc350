-- Index names in the current schema.
SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname
