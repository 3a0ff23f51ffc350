-- Test cleanup: delete every user (their tasks go with them through the cascade).
DELETE FROM users;
