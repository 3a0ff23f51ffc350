-- Users: one row per account. Usernames are unique case-insensitively
-- (uq_users_username under the case-insensitive utf8mb4_general_ci collation).
CREATE TABLE users (
    id          CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
    username    VARCHAR(50)  CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
    email       VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    CONSTRAINT uq_users_username UNIQUE (username),
    INDEX ix_users_created_at (created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
