-- Test helper: how many times yoyo recorded each migration as applied.
SELECT migration_id, COUNT(*) AS times FROM _yoyo_migration GROUP BY migration_id
