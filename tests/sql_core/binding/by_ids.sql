-- The rows whose id is in the list :ids, and whose color is not in :colors.
SELECT id FROM core_values
WHERE id IN (:ids) AND color NOT IN (:colors)
ORDER BY id
