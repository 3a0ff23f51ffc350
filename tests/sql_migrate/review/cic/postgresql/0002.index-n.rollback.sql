-- transactional: false
DROP INDEX CONCURRENTLY IF EXISTS ix_review_items_n;
