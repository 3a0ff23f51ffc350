-- Take the row's lock (and add one to it).
UPDATE rel_notes SET n = n + 1 WHERE id = :id
