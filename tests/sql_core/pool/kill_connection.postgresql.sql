-- Terminate another connection, as an administrator or a failover would;
-- wait (up to 5 s) until its server process has exited.
SELECT pg_terminate_backend(:pid, 5000)
