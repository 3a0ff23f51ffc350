-- Reliability test migration: a table, then about 1.5 s of work.
CREATE TABLE rel_slow (id INTEGER PRIMARY KEY);

SELECT pg_sleep(1.5);
