-- The text of the statement this connection is running, as the server received it.
SELECT INFO AS text FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()
