-- Delete a batch of tasks in one statement.
DELETE FROM tasks
WHERE id = ANY(:ids::uuid[]);
