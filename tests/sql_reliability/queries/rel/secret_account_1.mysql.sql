-- Test setup: a user that logs in with a password.
CREATE USER 'rr_secret'@'127.0.0.1' IDENTIFIED BY :password
