-- A page of tasks whose title holds :pattern (a LIKE pattern, '\' escapes), any case,
-- oldest first; ILIKE is served by the trigram index ix_tasks_title_trgm.
-- rawrepo: custom-plan
--   (a cached generic plan walks ix_tasks_created_at and filters every row: 100x
--   slower for a rare term; planned per call, a rare term uses the trigram index and
--   a common one still walks the created_at index and stops after LIMIT rows.)
SELECT id, user_id, title, description, status, created_at, updated_at, completed_at
FROM tasks
WHERE title ILIKE :pattern ESCAPE '\'
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
