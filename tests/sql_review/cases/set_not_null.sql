-- NOT NULL on an existing column.
ALTER TABLE review_items ALTER COLUMN note SET NOT NULL
