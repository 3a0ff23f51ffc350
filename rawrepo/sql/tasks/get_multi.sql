-- A page of tasks, oldest first, optionally only one :status and/or one :user_id (NULL: any).
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE (:status IS NULL OR status = :status)
  AND (:user_id IS NULL OR user_id = :user_id)
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
