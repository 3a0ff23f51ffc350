-- Whether performance_schema is on and which of its statement consumers collect.
SELECT
    @@performance_schema AS enabled,
    (SELECT ENABLED FROM performance_schema.setup_consumers
     WHERE NAME = 'global_instrumentation') AS global_instrumentation,
    (SELECT ENABLED FROM performance_schema.setup_consumers
     WHERE NAME = 'statements_digest') AS statements_digest,
    (SELECT ENABLED FROM performance_schema.setup_consumers
     WHERE NAME = 'events_statements_current') AS events_statements_current,
    (SELECT ENABLED FROM performance_schema.setup_consumers
     WHERE NAME = 'events_statements_history_long') AS events_statements_history_long
