-- '%' appears as a LIKE wildcard and as the modulo operator: MySQL needs both doubled.
SELECT name FROM core_items WHERE name LIKE 'a%' AND qty % 2 = :parity ORDER BY name
