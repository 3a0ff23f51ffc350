-- Test migration: its first statement works, its second fails.
CREATE TABLE half_done (id INTEGER PRIMARY KEY);

INSERT INTO no_such_table (id) VALUES (1);
