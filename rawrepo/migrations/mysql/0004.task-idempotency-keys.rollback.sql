-- Drops the idempotency keys: the unique index and the column.
ALTER TABLE tasks
    DROP INDEX uq_tasks_user_id_idempotency_key,
    DROP COLUMN idempotency_key,
    ALGORITHM=INPLACE, LOCK=NONE;
