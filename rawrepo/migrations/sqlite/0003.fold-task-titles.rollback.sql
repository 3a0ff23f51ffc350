-- Back to the title search by lower(title): drop the folded column (SQLite 3.35+).
ALTER TABLE tasks DROP COLUMN title_folded;
