-- Terminate another connection.
KILL :pid
