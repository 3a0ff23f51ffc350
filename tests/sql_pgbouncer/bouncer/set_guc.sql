-- Session state: a setting for the rest of the session (not SET LOCAL).
SELECT set_config('rawrepo.leak', :value, false)
