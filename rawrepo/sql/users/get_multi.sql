-- A page of users, oldest first; :username (NULL: any) matches case-insensitively
-- through the column's collation (MySQL utf8mb4_general_ci, SQLite NOCASE).
SELECT id, username, email, created_at, updated_at
FROM users
WHERE (:username IS NULL OR username = :username)
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
