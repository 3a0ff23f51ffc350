-- Test helper: how many tasks exist.
SELECT COUNT(*) AS total FROM tasks;
