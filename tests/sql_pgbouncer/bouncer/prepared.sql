-- Named prepared statements of this server connection, rawrepo's and asyncpg's too.
SELECT COUNT(*) FROM pg_prepared_statements
