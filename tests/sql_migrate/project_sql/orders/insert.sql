-- One order.
INSERT INTO orders (id, user_id, total) VALUES (:id, :user_id, :total)
