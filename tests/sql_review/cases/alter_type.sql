-- A wider integer type.
ALTER TABLE review_items ALTER COLUMN n TYPE bigint
