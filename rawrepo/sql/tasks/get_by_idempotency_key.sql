-- The task one user created with this idempotency key (uq_tasks_user_id_idempotency_key).
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE user_id = :user_id AND idempotency_key = :idempotency_key;
