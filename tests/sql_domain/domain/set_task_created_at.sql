-- Test helper: give a task a chosen created_at (to make ordering ties).
UPDATE tasks SET created_at = :created_at WHERE id = :id;
