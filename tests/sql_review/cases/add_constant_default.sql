-- A constant default.
ALTER TABLE review_items ADD COLUMN flag boolean NOT NULL DEFAULT false
