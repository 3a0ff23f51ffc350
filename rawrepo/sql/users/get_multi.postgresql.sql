-- A page of users, oldest first; :username (NULL: any) matches case-insensitively
-- through lower(), served by the unique index uq_users_username on lower(username).
SELECT id, username, email, created_at, updated_at
FROM users
WHERE (:username::text IS NULL OR lower(username) = lower(:username::text))
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;
