-- Undoes 0002.rel-half; yoyo pairs these in reverse order with its statements.
DROP TABLE rel_half_b;

DROP TABLE rel_half_a;
