SELECT COUNT(*) FROM core_notes
