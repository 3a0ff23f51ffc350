-- Insert one task; the id and timestamps come from the application.
INSERT INTO tasks (id, user_id, title, description, status, created_at, updated_at, completed_at)
VALUES (:id, :user_id, :title, :description, :status, :created_at, :updated_at, :completed_at);
