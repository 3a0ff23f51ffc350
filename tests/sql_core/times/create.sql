-- A table of moments: at is the database's timezone-aware type where it has one.
CREATE TABLE core_times (id INTEGER PRIMARY KEY, at TEXT NULL)
