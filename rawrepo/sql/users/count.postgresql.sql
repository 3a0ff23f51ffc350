-- The number of users; :username (NULL: any) matches case-insensitively through lower().
SELECT COUNT(*) AS total
FROM users
WHERE (:username::text IS NULL OR lower(username) = lower(:username::text));
