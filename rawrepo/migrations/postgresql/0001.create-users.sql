-- Users: one row per account. Usernames are unique case-insensitively
-- (uq_users_username is a unique index on lower(username)).
CREATE TABLE users (
    id          uuid         PRIMARY KEY,
    username    varchar(50)  NOT NULL,
    email       varchar(320) NULL,
    created_at  timestamptz  NOT NULL,
    updated_at  timestamptz  NOT NULL
);

CREATE UNIQUE INDEX uq_users_username ON users (lower(username));

CREATE INDEX ix_users_created_at ON users (created_at, id);
