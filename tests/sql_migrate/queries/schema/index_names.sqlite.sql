-- Index names in the database file.
SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name
