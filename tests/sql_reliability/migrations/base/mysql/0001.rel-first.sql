-- Reliability test migration: one table.
CREATE TABLE rel_first (id INTEGER PRIMARY KEY);
