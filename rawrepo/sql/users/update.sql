-- Apply a partial change to one user: a column changes only when its set_ flag is true.
UPDATE users
SET username = CASE WHEN :set_username THEN :username ELSE username END,
    email = CASE WHEN :set_email THEN :email ELSE email END,
    updated_at = :updated_at
WHERE id = :id;
