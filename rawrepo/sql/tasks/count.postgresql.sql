-- The number of tasks, optionally only one :status and/or one :user_id (NULL: any).
-- The casts tell PostgreSQL the parameters' types ("$1 IS NULL" alone cannot).
SELECT COUNT(*) AS total
FROM tasks
WHERE (:status::text IS NULL OR status = :status::text)
  AND (:user_id::uuid IS NULL OR user_id = :user_id::uuid);
