-- A read that takes a while (to be killed halfway).
SELECT body FROM repl_notes WHERE id = :id AND SLEEP(:seconds) = 0
