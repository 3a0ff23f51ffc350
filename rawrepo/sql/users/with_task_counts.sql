-- Users with the number of tasks each owns (0 for none): most tasks first,
-- ties oldest first.
SELECT u.id, u.username, u.email, u.created_at, u.updated_at,
       COALESCE(c.task_count, 0) AS task_count
FROM users AS u
LEFT JOIN (
    SELECT user_id, COUNT(*) AS task_count
    FROM tasks
    GROUP BY user_id
) AS c ON c.user_id = u.id
ORDER BY task_count DESC, u.created_at, u.id
LIMIT :limit OFFSET :offset;
