-- The server process this statement ran on (behind pgbouncer: the server connection).
SELECT pg_backend_pid()
