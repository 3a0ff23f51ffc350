-- One owner for the streamed tasks.
INSERT INTO users (id, username, email, created_at, updated_at)
VALUES (:id, :username, NULL, :now, :now);
