-- A write that holds a row lock (and ROW EXCLUSIVE on the table) until the transaction ends.
UPDATE review_items SET n = n WHERE id = :id
