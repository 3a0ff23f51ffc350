-- Terminate another connection, as an administrator or a failover would.
KILL :pid
