-- A table with rows, as a live one has: row 1 has n = 0 and no note.
CREATE TABLE review_items (id integer PRIMARY KEY, n integer NOT NULL, note text NULL);

INSERT INTO review_items (id, n, note)
SELECT g, g - 1, CASE WHEN g = 1 THEN NULL ELSE 'x' END FROM generate_series(1, 1000) AS g;
