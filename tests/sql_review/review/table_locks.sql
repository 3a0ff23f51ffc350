-- The locks this session holds on the table.
SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE c.relname = :table AND l.pid = pg_backend_pid()
ORDER BY l.mode
