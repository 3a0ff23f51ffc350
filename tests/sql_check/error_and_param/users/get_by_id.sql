-- test: a misspelled column and a parameter the repository never passes.
SELECT id, usernme, email, created_at, updated_at
FROM users
WHERE id = :id AND username = :name;
