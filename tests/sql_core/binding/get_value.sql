-- One row of core_values, doc as text.
SELECT id, total, doc FROM core_values WHERE id = :id
