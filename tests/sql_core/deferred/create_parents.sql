-- Parents for the deferred foreign key (PostgreSQL and SQLite: MySQL has no deferred constraints).
CREATE TABLE core_deferred_parents (id INTEGER PRIMARY KEY)
