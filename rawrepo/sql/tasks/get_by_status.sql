-- A page of the tasks in one status, oldest first (index ix_tasks_status_created_at).
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE status = :status
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
