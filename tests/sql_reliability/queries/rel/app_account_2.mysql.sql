-- Test setup: the account may use the test databases (rel_...), nothing else.
GRANT ALL PRIVILEGES ON `rel%`.* TO 'rr_app'@'127.0.0.1'
