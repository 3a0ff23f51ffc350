SELECT n FROM rel_notes WHERE id = :id
