-- Test setup: a role that logs in with a password (pg_hba asks it for one).
DO $$
BEGIN
  EXECUTE format('CREATE ROLE rr_secret LOGIN SUPERUSER PASSWORD %L',
                 current_setting('rawrepo.secret'));
END
$$
