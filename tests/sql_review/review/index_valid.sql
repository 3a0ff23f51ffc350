-- Whether the index exists and is valid (a failed CREATE INDEX CONCURRENTLY leaves it invalid).
SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :name
