-- Run from a folder that rawrepo sql stats is not told about: SQL no file owns.
SELECT 42 AS lonely_marker
