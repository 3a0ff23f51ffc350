-- test (PostgreSQL only): a text id for the UUID field User.id.
SELECT id::text AS id, username, email, created_at, updated_at
FROM users
WHERE id = :id;
