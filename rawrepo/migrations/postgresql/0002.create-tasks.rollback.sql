-- Drops the tasks table with its indexes. The pg_trgm extension stays
-- installed: other objects in the database may use it.
DROP TABLE tasks;
