-- Test fault: apply ALTER SYSTEM to every session.
SELECT pg_reload_conf()
