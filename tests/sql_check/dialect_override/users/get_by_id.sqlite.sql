-- test: an SQLite-only override of users.get_by_id.
SELECT id, username, email, created_at, updated_at
FROM users
WHERE id = :id;
