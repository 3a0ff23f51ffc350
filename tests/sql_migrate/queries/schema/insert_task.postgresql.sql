-- insert_task.sql, with the one type PostgreSQL must deduce for :title (it is used twice).
INSERT INTO tasks (id, user_id, title, title_folded, status, created_at, updated_at)
VALUES (:id, :user_id, :title, lower(:title::varchar), :status, :now, :now)
