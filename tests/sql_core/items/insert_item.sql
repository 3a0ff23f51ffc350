-- Insert one item.
-- Every column but big is a parameter.
INSERT INTO core_items (id, parent_id, name, qty) VALUES (:id, :parent_id, :name, :qty)
