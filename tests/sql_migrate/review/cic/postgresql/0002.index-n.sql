-- transactional: false
-- An index built without blocking writes, in a migration of its own.
SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_review_items_n ON review_items (n);
