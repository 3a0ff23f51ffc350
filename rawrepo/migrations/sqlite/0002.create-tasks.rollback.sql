-- Drops the tasks table with its indexes.
DROP TABLE tasks;
