-- A user row, written straight into the migrated schema.
INSERT INTO users (id, username, email, created_at, updated_at) VALUES (:id, :username, NULL, :now, :now)
