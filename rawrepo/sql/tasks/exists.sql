-- Whether a task with this id exists.
SELECT EXISTS (SELECT 1 FROM tasks WHERE id = :id) AS found;
