-- Whether a username is taken, compared case-insensitively (index uq_users_username).
SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower(:username::text)) AS found;
