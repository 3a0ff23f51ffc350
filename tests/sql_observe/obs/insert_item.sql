-- One item; 100% of the columns (a literal % in a comment).
INSERT INTO obs_items (id, name) VALUES (:id, :name)
