CREATE TABLE core_times (id INTEGER PRIMARY KEY, at timestamptz NULL, local_at timestamp NULL)
