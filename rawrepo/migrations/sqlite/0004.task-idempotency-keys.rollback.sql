-- Drops the idempotency keys: the unique index, then the column (SQLite 3.35+).
DROP INDEX uq_tasks_user_id_idempotency_key;

ALTER TABLE tasks DROP COLUMN idempotency_key;
