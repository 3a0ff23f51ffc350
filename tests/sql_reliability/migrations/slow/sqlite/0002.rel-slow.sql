-- Reliability test migration: a table made by about 1.5 s of work (SQLite has no sleep).
CREATE TABLE rel_slow AS
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 4500000)
SELECT max(x) AS id FROM n;
