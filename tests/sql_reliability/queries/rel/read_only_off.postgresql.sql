-- Test fault: transactions may write again (with rel.reload).
ALTER SYSTEM RESET default_transaction_read_only
