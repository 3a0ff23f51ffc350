-- Delete a batch of users in one statement (:ids is a list; PostgreSQL runs it as
-- id = ANY($1), MySQL and SQLite as one IN list).
DELETE FROM users
WHERE id IN (:ids);
