-- The number of users; :username (NULL: any) matches case-insensitively (column collation).
SELECT COUNT(*) AS total
FROM users
WHERE (:username IS NULL OR username = :username);
