-- Test helper: a statement every database rejects.
SELEC 1
