-- Insert one task; the id, timestamps and the case-folded title (title_folded, what
-- the title search matches) come from the application. A task with an
-- idempotency_key is created through create_idempotent instead.
INSERT INTO tasks
    (id, user_id, title, title_folded, description, status, created_at, updated_at,
     completed_at, idempotency_key)
VALUES (
    :id, :user_id, :title, :title_folded, :description, :status, :created_at, :updated_at,
    :completed_at, :idempotency_key
);
