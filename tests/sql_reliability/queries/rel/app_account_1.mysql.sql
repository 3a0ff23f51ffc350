-- Test setup: an account with no global privileges (read_only binds it).
CREATE USER IF NOT EXISTS 'rr_app'@'127.0.0.1'
