-- Insert one task with an idempotency key, or nothing if the user already has a task
-- with that key (uq_tasks_user_id_idempotency_key): the caller then reads that task
-- back with get_by_idempotency_key. MySQL has no ON CONFLICT: "UPDATE id = id" changes
-- nothing in the existing row, and unlike INSERT IGNORE it still raises every other
-- error (a missing user, a bad value). The id is a fresh UUID, so the only duplicate
-- key it can meet is the idempotency key.
INSERT INTO tasks
    (id, user_id, title, title_folded, description, status, created_at, updated_at,
     completed_at, idempotency_key)
VALUES (
    :id, :user_id, :title, :title_folded, :description, :status, :created_at, :updated_at,
    :completed_at, :idempotency_key
)
ON DUPLICATE KEY UPDATE id = id;
