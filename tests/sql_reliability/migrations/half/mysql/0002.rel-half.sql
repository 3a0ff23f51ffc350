-- Reliability test migration: two tables, then a statement that fails.
CREATE TABLE rel_half_a (id INTEGER PRIMARY KEY);

CREATE TABLE rel_half_b (id INTEGER PRIMARY KEY);

INSERT INTO rel_no_such_table (id) VALUES (1);
