SELECT current_setting('rawrepo.leak', true)
