-- Session state: an advisory lock held until the session ends (or it is unlocked).
SELECT pg_advisory_lock(:key)
