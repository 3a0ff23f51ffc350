-- A user's own first table (a project that does not use the reference schema).
CREATE TABLE orders (id char(36) PRIMARY KEY, user_id char(36) NULL, total decimal(12, 2) NOT NULL);
