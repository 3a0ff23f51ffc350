-- Test helper: the tables of this database.
SELECT name FROM sqlite_master WHERE type = 'table'
