-- Whether a user with this id exists.
SELECT EXISTS (SELECT 1 FROM users WHERE id = :id) AS found;
