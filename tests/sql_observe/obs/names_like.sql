-- A literal % next to a parameter (MySQL doubles it).
SELECT name FROM obs_items WHERE name LIKE '%' || :part || '%' ORDER BY id
