DROP TABLE rel_first;
