-- tasks.title_folded: the title case-folded by rawrepo (Python's str.casefold, Unicode
-- full case folding) when it writes the task. The title search compares it with the
-- folded term by a plain LIKE, so every backend finds the same rows whatever its
-- locale or collation; ILIKE on title folded by the database's own rules, which
-- differ (PostgreSQL's depend on the locale, MariaDB's lower() leaves letters such as
-- U+1E9E unfolded, SQLite's folds ASCII only).
-- Rows stored before this migration are folded here by the database's lower(); rawrepo
-- folds them exactly when their title is next written.
-- The trigram index moves from title to title_folded (LIKE uses it). Building it here
-- blocks writes to tasks while it runs (a few seconds per million rows), and the UPDATE
-- rewrites every row: on a large live table, run these statements by hand instead, the
-- last one as CREATE INDEX CONCURRENTLY outside a transaction, then mark the migration
-- applied (yoyo mark); IF NOT EXISTS makes a rerun after that harmless.
-- rawrepo: allow create-index-locks-writes
-- Every statement waits at most 5 s for its lock on tasks, so that on a busy table the
-- migration fails (rerun it) instead of queueing every query behind it.
SET LOCAL lock_timeout = '5s';

ALTER TABLE tasks ADD COLUMN IF NOT EXISTS title_folded varchar(800) NOT NULL DEFAULT '';

UPDATE tasks SET title_folded = lower(title);

ALTER TABLE tasks ALTER COLUMN title_folded DROP DEFAULT;

DROP INDEX ix_tasks_title_trgm;

CREATE INDEX IF NOT EXISTS ix_tasks_title_folded_trgm ON tasks USING gin (title_folded gin_trgm_ops);
