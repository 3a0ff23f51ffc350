-- Test helper: planned for its values on every call (asyncpg's prepare() path).
-- rawrepo: custom-plan
SELECT g AS n FROM generate_series(1, CAST(:rows AS integer)) AS g
