-- Every statement pg_stat_statements counted in this database (PostgreSQL 13+).
SELECT query AS text, calls, total_exec_time AS total_ms, rows AS row_count
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
