-- Undoes the first statement of 0003.half-done.
DROP TABLE half_done;
