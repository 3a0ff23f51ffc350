-- The observability tests' table.
CREATE TABLE obs_items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)
