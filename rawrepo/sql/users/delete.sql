-- Delete one user; their tasks go with them (ON DELETE CASCADE).
DELETE FROM users
WHERE id = :id;
