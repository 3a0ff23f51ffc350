-- One user by id.
SELECT id, username, email, created_at, updated_at
FROM users
WHERE id = :id;
