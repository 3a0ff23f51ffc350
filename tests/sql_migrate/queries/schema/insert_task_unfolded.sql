-- A task row without title_folded, as a writer that does not know the column would send it.
INSERT INTO tasks (id, user_id, title, status, created_at, updated_at) VALUES (:id, :user_id, :title, :status, :now, :now)
