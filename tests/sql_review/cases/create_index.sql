-- An index built the blocking way.
CREATE INDEX ix_review_items_n ON review_items (n)
