-- A page of one user's tasks in one status, oldest first.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE user_id = :user_id AND status = :status
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
