-- Delete a batch of users in one statement.
DELETE FROM users
WHERE id = ANY(:ids::uuid[]);
