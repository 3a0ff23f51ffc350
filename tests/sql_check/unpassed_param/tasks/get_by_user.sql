-- test: :title is a parameter TaskRepository.get_by_user never passes.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE user_id = :user_id AND title <> :title
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
