-- Test fault: the server refuses writes, as a demoted primary does.
SET GLOBAL read_only = ON
