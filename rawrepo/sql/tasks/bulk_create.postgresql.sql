-- Insert a batch of tasks in one round trip: one array per column, same length each.
INSERT INTO tasks
    (id, user_id, title, title_folded, description, status, created_at, updated_at,
     completed_at, idempotency_key)
SELECT t.id, t.user_id, t.title, t.title_folded, t.description, t.status, t.created_at,
       t.updated_at, t.completed_at, t.idempotency_key
FROM unnest(
    :ids::uuid[], :user_ids::uuid[], :titles::text[], :title_foldeds::text[],
    :descriptions::text[], :statuses::text[], :created_ats::timestamptz[],
    :updated_ats::timestamptz[], :completed_ats::timestamptz[], :idempotency_keys::text[]
) AS t (
    id, user_id, title, title_folded, description, status, created_at, updated_at,
    completed_at, idempotency_key
);
