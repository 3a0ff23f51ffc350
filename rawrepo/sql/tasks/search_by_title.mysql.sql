-- A page of tasks whose title holds the term, ignoring case: :pattern is the
-- case-folded term as a LIKE pattern ('\' escapes), matched against title_folded
-- (a binary column rawrepo fills with str.casefold of the title). Oldest first.
-- A backslash escapes inside MySQL string literals: '\\' is one backslash.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE title_folded LIKE :pattern ESCAPE '\\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
