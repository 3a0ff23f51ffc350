-- Test setup: a login with no monitoring privileges (SLAVE MONITOR, REPLICATION CLIENT).
CREATE USER IF NOT EXISTS 'rr_plain'@'127.0.0.1' IDENTIFIED BY 'plain-pw'
