-- Terminate another connection (its running statement and its transaction die with it).
KILL :pid
