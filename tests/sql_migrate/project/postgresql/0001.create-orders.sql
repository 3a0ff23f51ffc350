-- A user's own first table (a project that does not use the reference schema).
CREATE TABLE orders (id uuid PRIMARY KEY, user_id uuid NULL, total numeric(12, 2) NOT NULL);
