-- A task row, written straight into the migrated schema.
INSERT INTO tasks (id, user_id, title, status, created_at, updated_at) VALUES (:id, :user_id, :title, :status, :now, :now)
