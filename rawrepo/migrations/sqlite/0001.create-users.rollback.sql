-- Drops the users table with its indexes.
DROP TABLE users;
