DELETE FROM core_parents WHERE id = :id
