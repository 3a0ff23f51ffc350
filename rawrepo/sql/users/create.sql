-- Insert one user; the id and timestamps come from the application.
INSERT INTO users (id, username, email, created_at, updated_at)
VALUES (:id, :username, :email, :created_at, :updated_at);
