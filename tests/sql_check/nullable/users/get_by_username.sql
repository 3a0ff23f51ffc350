-- test: username comes from the nullable email column; User.username is not optional.
SELECT id, email AS username, email, created_at, updated_at
FROM users
WHERE username = :username;
