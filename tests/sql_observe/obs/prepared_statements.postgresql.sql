-- The statements this connection has prepared (asyncpg's statement cache).
SELECT statement FROM pg_prepared_statements ORDER BY statement
