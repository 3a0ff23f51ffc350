-- Back to the title search by LOWER(title).
ALTER TABLE tasks DROP COLUMN title_folded;
