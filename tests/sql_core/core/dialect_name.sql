-- The generic file: every dialect without its own override runs this one.
SELECT 'generic' AS source
