-- Delete a batch of tasks in one statement (:ids is a list; PostgreSQL runs it as
-- id = ANY($1), MySQL and SQLite as one IN list).
DELETE FROM tasks
WHERE id IN (:ids);
