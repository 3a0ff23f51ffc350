-- How many tasks a user has.
SELECT COUNT(*) AS n FROM tasks WHERE user_id = :user_id
