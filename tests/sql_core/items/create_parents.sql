-- Test table: parents referenced by core_items.
CREATE TABLE core_parents (
    id INTEGER PRIMARY KEY,
    name VARCHAR(20) NOT NULL
)
