-- A page of tasks whose title holds :pattern (a LIKE pattern, '\' escapes), any case,
-- oldest first. rawrepo registers a Unicode-aware lower() on its SQLite connections.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at
FROM tasks
WHERE lower(title) LIKE lower(:pattern) ESCAPE '\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
