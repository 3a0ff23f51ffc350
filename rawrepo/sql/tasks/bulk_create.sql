-- Insert one task of a batch (run through execute_many; aiomysql sends multi-row INSERTs).
INSERT INTO tasks
    (id, user_id, title, title_folded, description, status, created_at, updated_at,
     completed_at, idempotency_key)
VALUES (
    :id, :user_id, :title, :title_folded, :description, :status, :created_at, :updated_at,
    :completed_at, :idempotency_key
);
