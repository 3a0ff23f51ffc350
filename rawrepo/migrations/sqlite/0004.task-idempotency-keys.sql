-- tasks.idempotency_key: a key the client makes once per logical "create this task"
-- and sends with every attempt, so a retry after CommitOutcomeUnknownError (the
-- connection died after COMMIT was sent) finds the task the first attempt may have
-- created instead of creating a second one. NULL for tasks created without a key.
-- uq_tasks_user_id_idempotency_key makes a key unique per user (NULLs never collide);
-- TaskService.create inserts with ON CONFLICT on these columns.
ALTER TABLE tasks ADD COLUMN idempotency_key TEXT NULL;

CREATE UNIQUE INDEX uq_tasks_user_id_idempotency_key ON tasks (user_id, idempotency_key);
