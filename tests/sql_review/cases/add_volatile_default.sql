-- A column whose default differs per row.
ALTER TABLE review_items ADD COLUMN token double precision DEFAULT random()
