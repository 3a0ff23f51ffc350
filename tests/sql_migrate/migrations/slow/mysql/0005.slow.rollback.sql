-- Undoes 0003.slow.
DROP TABLE slow_done;
