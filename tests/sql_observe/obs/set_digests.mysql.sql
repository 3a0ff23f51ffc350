UPDATE performance_schema.setup_consumers SET ENABLED = :enabled WHERE NAME = 'statements_digest'
