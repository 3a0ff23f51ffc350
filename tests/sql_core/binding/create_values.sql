-- Test table for parameter binding: one column per kind of value users pass
-- (doc holds JSON: JSON on MySQL, text with NUMERIC affinity on SQLite, jsonb on PostgreSQL).
CREATE TABLE core_values (
    id INTEGER PRIMARY KEY,
    key_id VARCHAR(36) NOT NULL,
    total NUMERIC(12, 2) NOT NULL,
    day DATE NOT NULL,
    at_time TIME NOT NULL,
    color VARCHAR(10) NOT NULL,
    doc JSON NULL
)
