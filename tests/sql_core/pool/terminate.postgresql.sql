-- Terminate another connection without waiting for it to end, as an administrator
-- or a failover would: the client may not have seen the end yet when it next uses it.
SELECT pg_terminate_backend(:pid)
