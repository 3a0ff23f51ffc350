-- test (PostgreSQL only): :username becomes a uuid, but the repository passes a str.
SELECT EXISTS (SELECT 1 FROM users WHERE id = :username::uuid) AS found;
