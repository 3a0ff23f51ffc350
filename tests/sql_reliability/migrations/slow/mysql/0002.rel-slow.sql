-- Reliability test migration: a table, then about 1.5 s of work. IF NOT EXISTS: MySQL
-- commits the CREATE at once, so a run killed in the SLEEP leaves the table behind.
CREATE TABLE IF NOT EXISTS rel_slow (id INTEGER PRIMARY KEY);

SELECT SLEEP(1.5);
