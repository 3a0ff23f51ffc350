-- One user by username, compared case-insensitively (column collation).
SELECT id, username, email, created_at, updated_at
FROM users
WHERE username = :username;
