-- Delete one user of a batch (run through execute_many).
DELETE FROM users
WHERE id = :id;
