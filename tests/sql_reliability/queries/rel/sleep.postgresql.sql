-- A statement that runs for :seconds on the server.
SELECT pg_sleep(:seconds)
