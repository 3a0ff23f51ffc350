-- The orders with these ids, largest total first.
SELECT id, total FROM orders WHERE id IN (:ids) ORDER BY total DESC
