-- tasks.title_folded: the title case-folded by rawrepo (Python's str.casefold, Unicode
-- full case folding) when it writes the task. The title search compares it with the
-- folded term by a plain LIKE, so every backend finds the same rows (Python's
-- str.lower, which the registered lower() used, turns U+0130 into two characters where
-- the servers fold it to one).
-- SQLite adds a NOT NULL column only with a default, so the table is rebuilt with the
-- new column (a missing value is an error, as on the servers). Rows stored before this
-- migration are folded by SQLite's built-in lower() (ASCII only); rawrepo folds them
-- exactly when their title is next written.
CREATE TABLE tasks_folded (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL,
    title         TEXT NOT NULL,
    title_folded  TEXT NOT NULL,
    description   TEXT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    completed_at  TEXT NULL,
    CONSTRAINT fk_tasks_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_tasks_status CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled'))
);

INSERT INTO tasks_folded
    (id, user_id, title, title_folded, description, status, created_at, updated_at, completed_at)
SELECT id, user_id, title, lower(title), description, status, created_at, updated_at, completed_at
FROM tasks;

DROP TABLE tasks;

ALTER TABLE tasks_folded RENAME TO tasks;

CREATE INDEX ix_tasks_user_id_status ON tasks (user_id, status);

CREATE INDEX ix_tasks_user_id_created_at ON tasks (user_id, created_at, id);

CREATE INDEX ix_tasks_status_created_at ON tasks (status, created_at, id);

CREATE INDEX ix_tasks_created_at ON tasks (created_at, id);
