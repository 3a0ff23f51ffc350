-- The same CHECK, NOT VALID.
ALTER TABLE review_items ADD CONSTRAINT ck_review_items_n CHECK (n > 0) NOT VALID
