-- Insert one user of a batch (run through execute_many; aiomysql sends multi-row INSERTs).
INSERT INTO users (id, username, email, created_at, updated_at)
VALUES (:id, :username, :email, :created_at, :updated_at);
