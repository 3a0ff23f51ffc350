-- A statement that runs for :seconds on the server.
SELECT SLEEP(:seconds)
