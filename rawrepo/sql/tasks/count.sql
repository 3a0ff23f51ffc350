-- The number of tasks, optionally only one :status and/or one :user_id (NULL: any).
SELECT COUNT(*) AS total
FROM tasks
WHERE (:status IS NULL OR status = :status)
  AND (:user_id IS NULL OR user_id = :user_id);
