-- Whether the server loaded pg_stat_statements (shared_preload_libraries), whether
-- this database has the extension (CREATE EXTENSION), and what it tracks.
SELECT
    current_setting('pg_stat_statements.track', true) IS NOT NULL AS loaded,
    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS created,
    current_setting('pg_stat_statements.track', true) AS track,
    current_setting('shared_preload_libraries') AS preload
