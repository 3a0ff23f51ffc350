-- One child row (its parent is checked when the transaction commits).
INSERT INTO core_deferred_children (id, parent_id) VALUES (:id, :parent_id)
