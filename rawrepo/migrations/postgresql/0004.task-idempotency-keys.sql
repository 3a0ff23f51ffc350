-- transactional: false
-- tasks.idempotency_key: a key the client makes once per logical "create this task"
-- and sends with every attempt, so a retry after CommitOutcomeUnknownError (the
-- connection died after COMMIT was sent) finds the task the first attempt may have
-- created instead of creating a second one. NULL for tasks created without a key.
-- uq_tasks_user_id_idempotency_key makes a key unique per user (NULLs never collide);
-- TaskService.create inserts with ON CONFLICT on these columns.
-- The column is added without a default (no rewrite) and the index is built
-- CONCURRENTLY, which blocks no writes but cannot run in a transaction: each statement
-- commits on its own. A run that failed in the index build leaves it INVALID: the DROP
-- below removes such a leftover, so rerunning the migration is safe.
SET lock_timeout = '5s';

ALTER TABLE tasks ADD COLUMN IF NOT EXISTS idempotency_key varchar(200) NULL;

DROP INDEX CONCURRENTLY IF EXISTS uq_tasks_user_id_idempotency_key;

CREATE UNIQUE INDEX CONCURRENTLY uq_tasks_user_id_idempotency_key
    ON tasks (user_id, idempotency_key);
