-- An index built without blocking writes, but in a transactional migration.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_review_items_n ON review_items (n);
