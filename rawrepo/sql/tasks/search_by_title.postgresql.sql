-- A page of tasks whose title holds :pattern (a LIKE pattern, '\' escapes), any case,
-- oldest first; ILIKE is served by the trigram index ix_tasks_title_trgm.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at
FROM tasks
WHERE title ILIKE :pattern ESCAPE '\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
