-- A page of tasks whose title holds the term, ignoring case: :pattern is the
-- case-folded term as a LIKE pattern ('\' escapes), matched against title_folded,
-- which rawrepo folds the same way (str.casefold). Oldest first.
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE title_folded LIKE :pattern ESCAPE '\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
