-- A unique constraint with its own new index.
ALTER TABLE review_items ADD CONSTRAINT uq_review_items_n UNIQUE (n)
