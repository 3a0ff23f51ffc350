-- Every task, oldest first, for streaming in batches (Session.stream_batches).
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
ORDER BY created_at, id;
