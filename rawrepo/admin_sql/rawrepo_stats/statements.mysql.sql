-- Every statement digest performance_schema summed up in this database. Timers are
-- in picoseconds; DIGEST_TEXT is the statement normalized, without its comments.
SELECT
    DIGEST AS digest,
    DIGEST_TEXT AS text,
    COUNT_STAR AS calls,
    SUM_TIMER_WAIT / 1000000000 AS total_ms,
    SUM_ROWS_SENT + SUM_ROWS_AFFECTED AS row_count
FROM performance_schema.events_statements_summary_by_digest
WHERE SCHEMA_NAME = SCHEMA() AND DIGEST IS NOT NULL
