-- Transactions waiting for a row lock held by another (server-wide: a join with the
-- processlist to keep only this database's crashed MariaDB 10.11 here, signal 11 in
-- free_tmp_table, so the test runs it alone).
SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'
