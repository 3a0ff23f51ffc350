-- Test helper: give a user a chosen created_at (to make ordering ties).
UPDATE users SET created_at = :created_at WHERE id = :id;
