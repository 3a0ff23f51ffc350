-- Test setup: keep the new role's password where the next statement can read it
-- (a DO block takes no parameters).
SELECT set_config('rawrepo.secret', :password, false)
