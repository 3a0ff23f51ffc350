-- The server process id of this connection.
SELECT pg_backend_pid()
