-- Tasks: each belongs to one user and is deleted with it (ON DELETE CASCADE).
-- ix_tasks_user_id_status also serves as the index InnoDB needs for the foreign key.
CREATE TABLE tasks (
    id            CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
    user_id       CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    title         VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    description   TEXT         CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    status        VARCHAR(20)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT 'pending',
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    completed_at  DATETIME(6)  NULL,
    CONSTRAINT fk_tasks_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_tasks_status CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled')),
    INDEX ix_tasks_user_id_status (user_id, status),
    INDEX ix_tasks_user_id_created_at (user_id, created_at, id),
    INDEX ix_tasks_status_created_at (status, created_at, id),
    INDEX ix_tasks_created_at (created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
