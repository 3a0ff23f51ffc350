-- Users: one row per account. Usernames are unique case-insensitively
-- (the username column collates NOCASE, so uq_users_username compares that way).
-- Timestamps are fixed-width UTC text written by the driver, so they sort as text.
CREATE TABLE users (
    id          TEXT NOT NULL PRIMARY KEY,
    username    TEXT NOT NULL COLLATE NOCASE,
    email       TEXT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE UNIQUE INDEX uq_users_username ON users (username);

CREATE INDEX ix_users_created_at ON users (created_at, id);
