-- tasks.idempotency_key: a key the client makes once per logical "create this task"
-- and sends with every attempt, so a retry after CommitOutcomeUnknownError (the
-- connection died after COMMIT was sent) finds the task the first attempt may have
-- created instead of creating a second one. NULL for tasks created without a key.
-- uq_tasks_user_id_idempotency_key makes a key unique per user (NULLs never collide);
-- TaskService.create inserts with ON DUPLICATE KEY UPDATE id = id.
-- utf8mb4_bin compares keys byte for byte, as PostgreSQL and SQLite do (it ignores
-- trailing spaces, which rawrepo rejects in a key). Built in place, without blocking
-- reads or writes.
ALTER TABLE tasks
    ADD COLUMN idempotency_key VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD CONSTRAINT uq_tasks_user_id_idempotency_key UNIQUE (user_id, idempotency_key),
    ALGORITHM=INPLACE, LOCK=NONE;
