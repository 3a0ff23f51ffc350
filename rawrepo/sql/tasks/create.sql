-- Insert one task; the id, timestamps and the case-folded title (title_folded, what
-- the title search matches) come from the application.
INSERT INTO tasks
    (id, user_id, title, title_folded, description, status, created_at, updated_at, completed_at)
VALUES (
    :id, :user_id, :title, :title_folded, :description, :status, :created_at, :updated_at,
    :completed_at
);
