-- test: TaskRepository passes :offset, which this query does not use.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE status = :status
ORDER BY created_at, id
LIMIT :limit;
