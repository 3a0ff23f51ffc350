-- Session state: a named prepared statement.
PREPARE bouncer_leak AS SELECT 1
