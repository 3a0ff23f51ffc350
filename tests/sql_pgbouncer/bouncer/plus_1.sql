-- Test helper: a distinct statement per k, each taking and returning an integer.
SELECT CAST(:n AS integer) + 1 AS v
