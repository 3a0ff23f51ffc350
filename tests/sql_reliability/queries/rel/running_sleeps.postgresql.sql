-- How many other connections to this database are running a sleep statement right now.
SELECT COUNT(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
  AND query LIKE '%pg_sleep%'
