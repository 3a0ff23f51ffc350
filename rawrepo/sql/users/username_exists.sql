-- Whether a username is taken, compared case-insensitively (column collation).
SELECT EXISTS (SELECT 1 FROM users WHERE username = :username) AS found;
