SELECT count(*) AS n FROM obs_items
