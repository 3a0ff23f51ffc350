-- Test migration that takes about a second, so two runs overlap.
CREATE TABLE slow_done AS SELECT SLEEP(1) AS x;
