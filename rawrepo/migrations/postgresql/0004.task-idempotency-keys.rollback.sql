-- transactional: false
-- Drops the idempotency keys: the index (CONCURRENTLY, blocking no writes), then the
-- column. Tasks keep their ids; a retry with a key creates a new task again.
SET lock_timeout = '5s';

DROP INDEX CONCURRENTLY IF EXISTS uq_tasks_user_id_idempotency_key;

ALTER TABLE tasks DROP COLUMN IF EXISTS idempotency_key;
