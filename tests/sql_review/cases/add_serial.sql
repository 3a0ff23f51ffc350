-- A serial column: a nextval() default.
ALTER TABLE review_items ADD COLUMN seq bigserial
