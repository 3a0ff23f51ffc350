-- Insert one task with an idempotency key, or nothing if the user already has a task
-- with that key (uq_tasks_user_id_idempotency_key): the caller then reads that task
-- back with get_by_idempotency_key. ON CONFLICT names the columns, so every other
-- error (a missing user, a bad value, a clash of ids) is still raised, and on
-- PostgreSQL a concurrent insert of the same key waits for the other transaction
-- instead of aborting this one.
INSERT INTO tasks
    (id, user_id, title, title_folded, description, status, created_at, updated_at,
     completed_at, idempotency_key)
VALUES (
    :id, :user_id, :title, :title_folded, :description, :status, :created_at, :updated_at,
    :completed_at, :idempotency_key
)
ON CONFLICT (user_id, idempotency_key) DO NOTHING;
