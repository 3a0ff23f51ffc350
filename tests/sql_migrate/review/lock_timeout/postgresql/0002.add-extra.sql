-- Gives up after 100 ms when the table's lock is not free, instead of queueing every query.
SET lock_timeout = '100ms';
ALTER TABLE review_items ADD COLUMN extra integer NULL;
