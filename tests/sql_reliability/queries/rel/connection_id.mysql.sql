-- The server thread id of this connection (what KILL takes).
SELECT CONNECTION_ID()
