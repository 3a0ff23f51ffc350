-- PostgreSQL's override of core.dialect_name.
SELECT 'postgresql' AS source
