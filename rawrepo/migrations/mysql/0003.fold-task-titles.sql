-- tasks.title_folded: the title case-folded by rawrepo (Python's str.casefold, Unicode
-- full case folding) when it writes the task. The title search compares it with the
-- folded term by a plain LIKE on this binary column, so every backend finds the same
-- rows; LOWER(title) on utf8mb4_bin folds by MariaDB's older Unicode tables (U+1E9E and
-- the Cherokee letters stay as they are, where the other backends fold them).
-- Rows stored before this migration are folded here by LOWER(); rawrepo folds them
-- exactly when their title is next written.
ALTER TABLE tasks
    ADD COLUMN title_folded VARCHAR(800) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
    DEFAULT '';

UPDATE tasks SET title_folded = LOWER(title);

ALTER TABLE tasks ALTER COLUMN title_folded DROP DEFAULT;
