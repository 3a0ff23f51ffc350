-- A page of tasks, oldest first, optionally only one :status and/or one :user_id (NULL: any).
-- The casts tell PostgreSQL the parameters' types ("$1 IS NULL" alone cannot).
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE (:status::text IS NULL OR status = :status::text)
  AND (:user_id::uuid IS NULL OR user_id = :user_id::uuid)
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
