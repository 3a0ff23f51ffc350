-- The table's storage file: a new one after a rewrite.
SELECT relfilenode FROM pg_class WHERE relname = :table
