-- Test migration that takes about a second, so two runs overlap (SQLite has no sleep).
CREATE TABLE slow_done AS
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000)
SELECT max(x) AS x FROM n;
