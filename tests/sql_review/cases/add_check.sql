-- A CHECK validated at once.
ALTER TABLE review_items ADD CONSTRAINT ck_review_items_n CHECK (n > 0)
