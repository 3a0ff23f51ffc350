-- A stable default: one value for every existing row.
ALTER TABLE review_items ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now()
