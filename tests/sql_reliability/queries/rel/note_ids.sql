SELECT id FROM rel_notes ORDER BY id
