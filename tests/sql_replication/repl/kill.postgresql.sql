-- Terminate another connection; wait (up to 5 s) until its server process has exited.
SELECT pg_terminate_backend(:pid, 5000)
