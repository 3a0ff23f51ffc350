-- Test setup: a login with no monitoring privileges (pg_read_all_stats, superuser).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rr_plain') THEN
    CREATE ROLE rr_plain LOGIN PASSWORD 'plain-pw';
  END IF;
END
$$
