-- Reliability test migration, fixed. IF NOT EXISTS: on MySQL a failed run may have
-- left these tables behind (its DDL commits as it runs).
CREATE TABLE IF NOT EXISTS rel_half_a (id INTEGER PRIMARY KEY);

CREATE TABLE IF NOT EXISTS rel_half_b (id INTEGER PRIMARY KEY);
