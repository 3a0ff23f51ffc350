SELECT count(*) FROM core_deferred_children
