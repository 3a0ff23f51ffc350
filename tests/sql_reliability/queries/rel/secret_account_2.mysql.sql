-- Test setup: let the user create databases and tables.
GRANT ALL PRIVILEGES ON *.* TO 'rr_secret'@'127.0.0.1'
