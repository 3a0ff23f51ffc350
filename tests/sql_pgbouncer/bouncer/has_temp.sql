SELECT to_regclass('pg_temp.bouncer_leak') IS NOT NULL
