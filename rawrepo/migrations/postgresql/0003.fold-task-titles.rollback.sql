-- Back to the title search by ILIKE on title, served by the trigram index on title.
SET LOCAL lock_timeout = '5s';

DROP INDEX ix_tasks_title_folded_trgm;

ALTER TABLE tasks DROP COLUMN title_folded;

CREATE INDEX ix_tasks_title_trgm ON tasks USING gin (title gin_trgm_ops);
