-- Test fault: the server takes writes again.
SET GLOBAL read_only = OFF
