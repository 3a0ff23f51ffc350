-- Insert a batch of users in one round trip: one array per column, same length each.
INSERT INTO users (id, username, email, created_at, updated_at)
SELECT u.id, u.username, u.email, u.created_at, u.updated_at
FROM unnest(
    :ids::uuid[], :usernames::text[], :emails::text[],
    :created_ats::timestamptz[], :updated_ats::timestamptz[]
) AS u (id, username, email, created_at, updated_at);
