UPDATE performance_schema.setup_consumers SET ENABLED = 'NO'
WHERE NAME IN ('events_statements_current', 'events_statements_history_long')
