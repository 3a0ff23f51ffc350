-- Test table for parameter binding: one column per kind of value users pass
-- (doc holds JSON: jsonb on PostgreSQL, JSON on MySQL, text on SQLite).
CREATE TABLE core_values (
    id INTEGER PRIMARY KEY,
    key_id UUID NOT NULL,
    total NUMERIC(12, 2) NOT NULL,
    day DATE NOT NULL,
    at_time TIME NOT NULL,
    color VARCHAR(10) NOT NULL,
    doc JSONB NULL
)
