-- Delete one task of a batch (run through execute_many).
DELETE FROM tasks
WHERE id = :id;
