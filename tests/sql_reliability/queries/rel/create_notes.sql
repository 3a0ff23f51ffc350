-- A scratch table for the reliability tests: one row per acknowledged write.
CREATE TABLE rel_notes (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)
