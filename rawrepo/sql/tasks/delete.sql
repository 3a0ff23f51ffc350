-- Delete one task.
DELETE FROM tasks
WHERE id = :id;
