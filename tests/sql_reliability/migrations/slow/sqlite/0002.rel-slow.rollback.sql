DROP TABLE rel_slow;
