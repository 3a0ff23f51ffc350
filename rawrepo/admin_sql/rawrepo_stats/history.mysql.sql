-- The digest of each recent rawrepo statement with its text as sent, query tag
-- included (the digest text drops comments). Empty unless the consumers
-- events_statements_current and events_statements_history(_long) are on.
SELECT DIGEST AS digest, SQL_TEXT AS sql_text
FROM performance_schema.events_statements_history_long
WHERE CURRENT_SCHEMA = SCHEMA() AND SQL_TEXT LIKE '/* rawrepo:%'
UNION
SELECT DIGEST AS digest, SQL_TEXT AS sql_text
FROM performance_schema.events_statements_history
WHERE CURRENT_SCHEMA = SCHEMA() AND SQL_TEXT LIKE '/* rawrepo:%'
