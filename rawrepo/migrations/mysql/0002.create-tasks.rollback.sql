-- Drops the tasks table with its indexes and foreign key.
DROP TABLE tasks;
