-- All of one user's tasks, oldest first (index ix_tasks_user_id_created_at).
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE user_id = :user_id
ORDER BY created_at, id;
