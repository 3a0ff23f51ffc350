-- Test migration that takes about a second, so two runs overlap.
CREATE TABLE slow_done AS SELECT 1 AS x FROM pg_sleep(1);
