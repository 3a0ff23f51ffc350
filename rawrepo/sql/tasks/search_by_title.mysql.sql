-- A page of tasks whose title holds :pattern (a LIKE pattern, '\' escapes), any case,
-- oldest first. A backslash escapes inside MySQL string literals: '\\' is one backslash.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at
FROM tasks
WHERE LOWER(title) LIKE LOWER(:pattern) ESCAPE '\\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
