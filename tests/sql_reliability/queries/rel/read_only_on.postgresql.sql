-- Test fault: new transactions are read-only, as on a demoted primary (with rel.reload).
ALTER SYSTEM SET default_transaction_read_only = on
