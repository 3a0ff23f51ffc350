-- No test runs this one: rawrepo sql stats lists it among the files never run.
SELECT id FROM obs_items WHERE name = :name
