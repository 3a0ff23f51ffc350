-- A read that takes a while (to be killed halfway).
SELECT body FROM repl_notes, pg_sleep(:seconds) WHERE id = :id
