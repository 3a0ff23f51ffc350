-- Tasks: each belongs to one user and is deleted with it (ON DELETE CASCADE).
-- pg_trgm's GIN index serves the title search (title ILIKE :pattern).
-- The foreign key locks users briefly: wait at most 5 s for that lock, so that on a
-- busy users table the migration fails (rerun it) instead of queueing every query.
SET LOCAL lock_timeout = '5s';

CREATE TABLE tasks (
    id            uuid          PRIMARY KEY,
    user_id       uuid          NOT NULL,
    title         varchar(200)  NOT NULL,
    description   text          NULL,
    status        varchar(20)   NOT NULL DEFAULT 'pending',
    created_at    timestamptz   NOT NULL,
    updated_at    timestamptz   NOT NULL,
    completed_at  timestamptz   NULL,
    CONSTRAINT fk_tasks_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_tasks_status CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled'))
);

CREATE INDEX ix_tasks_user_id_status ON tasks (user_id, status);

CREATE INDEX ix_tasks_user_id_created_at ON tasks (user_id, created_at, id);

CREATE INDEX ix_tasks_status_created_at ON tasks (status, created_at, id);

CREATE INDEX ix_tasks_created_at ON tasks (created_at, id);

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX ix_tasks_title_trgm ON tasks USING gin (title gin_trgm_ops);
