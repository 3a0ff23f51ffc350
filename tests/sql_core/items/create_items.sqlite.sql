-- Test table for SQLite: VARCHAR(n) is not enforced, so an unnamed length CHECK
-- stands in for it (rawrepo reports its failure as DataError, like the servers).
CREATE TABLE core_items (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NULL,
    name VARCHAR(10) NOT NULL CHECK (length(name) <= 10),
    qty INTEGER NOT NULL DEFAULT 0,
    big BIGINT NULL,
    CONSTRAINT uq_core_items_name UNIQUE (name),
    CONSTRAINT ck_core_items_qty CHECK (qty >= 0),
    CONSTRAINT fk_core_items_parent FOREIGN KEY (parent_id) REFERENCES core_parents (id)
)
