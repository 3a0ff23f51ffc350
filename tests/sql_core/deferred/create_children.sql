-- A foreign key checked at COMMIT, not at INSERT: a commit that can fail.
CREATE TABLE core_deferred_children (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL,
    CONSTRAINT fk_core_deferred_parent FOREIGN KEY (parent_id)
        REFERENCES core_deferred_parents (id) DEFERRABLE INITIALLY DEFERRED
)
