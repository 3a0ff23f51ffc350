-- test: the result lacks username, which User needs.
SELECT id, email, created_at, updated_at
FROM users
WHERE username = :username;
