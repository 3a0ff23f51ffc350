-- A task row, written straight into the migrated schema (title_folded: its title in
-- lower case, as rawrepo's fold_case gives for these ASCII titles).
INSERT INTO tasks (id, user_id, title, title_folded, status, created_at, updated_at)
VALUES (:id, :user_id, :title, lower(:title), :status, :now, :now)
