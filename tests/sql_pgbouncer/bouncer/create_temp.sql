-- Session state: a temporary table (lives until the session ends).
CREATE TEMP TABLE bouncer_leak (id INTEGER)
