-- A scratch table for the replication tests.
CREATE TABLE repl_notes (id INTEGER PRIMARY KEY, body VARCHAR(200) NOT NULL)
