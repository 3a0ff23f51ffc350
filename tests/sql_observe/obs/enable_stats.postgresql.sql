-- Turn the statement statistics on for this database (the server preloads the library).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements
