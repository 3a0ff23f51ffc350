-- Every other client connection to this database.
SELECT id AS pid FROM information_schema.processlist
WHERE db = DATABASE() AND id <> CONNECTION_ID() AND command <> 'Killed'
