-- Turn the statement history on (performance_schema=ON collects digests already), so
-- rawrepo sql stats can read each digest's query tag.
UPDATE performance_schema.setup_consumers SET ENABLED = 'YES'
WHERE NAME IN ('events_statements_current', 'events_statements_history_long')
