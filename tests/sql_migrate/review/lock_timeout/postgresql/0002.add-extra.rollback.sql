ALTER TABLE review_items DROP COLUMN extra;
