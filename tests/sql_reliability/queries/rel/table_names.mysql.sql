-- Test helper: the tables of this database.
SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()
