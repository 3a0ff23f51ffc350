-- One user by username, compared case-insensitively (index uq_users_username).
SELECT id, username, email, created_at, updated_at
FROM users
WHERE lower(username) = lower(:username::text);
