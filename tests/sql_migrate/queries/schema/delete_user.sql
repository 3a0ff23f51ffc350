-- Deletes one user (its tasks go with it).
DELETE FROM users WHERE id = :id
