-- One task by id.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at
FROM tasks
WHERE id = :id;
