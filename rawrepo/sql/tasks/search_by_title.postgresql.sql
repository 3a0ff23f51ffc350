-- A page of tasks whose title holds the term, ignoring case: :pattern is the
-- case-folded term as a LIKE pattern ('\' escapes), matched against title_folded,
-- which rawrepo folds the same way (str.casefold). Oldest first. The trigram index
-- ix_tasks_title_folded_trgm serves the LIKE.
-- rawrepo: custom-plan
--   (a cached generic plan walks ix_tasks_created_at and filters every row: 100x
--   slower for a rare term; planned per call, a rare term uses the trigram index and
--   a common one still walks the created_at index and stops after LIMIT rows.)
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at,
       idempotency_key
FROM tasks
WHERE title_folded LIKE :pattern ESCAPE '\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
