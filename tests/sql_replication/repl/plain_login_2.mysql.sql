GRANT SELECT ON *.* TO 'rr_plain'@'127.0.0.1'
