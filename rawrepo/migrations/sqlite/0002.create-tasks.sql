-- Tasks: each belongs to one user and is deleted with it (ON DELETE CASCADE;
-- rawrepo turns on PRAGMA foreign_keys for every connection).
CREATE TABLE tasks (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    completed_at  TEXT NULL,
    CONSTRAINT fk_tasks_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_tasks_status CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled'))
);

CREATE INDEX ix_tasks_user_id_status ON tasks (user_id, status);

CREATE INDEX ix_tasks_user_id_created_at ON tasks (user_id, created_at, id);

CREATE INDEX ix_tasks_status_created_at ON tasks (status, created_at, id);

CREATE INDEX ix_tasks_created_at ON tasks (created_at, id);
