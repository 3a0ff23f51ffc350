-- A user's own first table (a project that does not use the reference schema).
CREATE TABLE orders (id text PRIMARY KEY, user_id text NULL, total numeric(12, 2) NOT NULL);
