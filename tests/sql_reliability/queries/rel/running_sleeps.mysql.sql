-- How many other connections to this database are running a sleep statement right now.
SELECT COUNT(*) FROM information_schema.processlist
WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%SLEEP(%' AND command <> 'Killed'
