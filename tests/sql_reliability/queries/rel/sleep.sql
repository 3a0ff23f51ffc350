-- SQLite has no sleep(): a recursive count that keeps the engine busy for about
-- :seconds (about three million rows a second here; slower machines take longer).
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :seconds * 3000000)
SELECT COUNT(*) FROM c
