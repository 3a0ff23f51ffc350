-- The text of the statement this connection is running, as the server received it.
SELECT query AS text FROM pg_stat_activity WHERE pid = pg_backend_pid()
