-- Move one task to :new_status only while its status is still one of the expected ones
-- (a conditional update: 0 rows means the task is gone or has moved on meanwhile).
UPDATE tasks
SET status = :new_status,
    completed_at = :completed_at,
    updated_at = :updated_at
WHERE id = :id
  AND status IN (:expected_1, :expected_2, :expected_3, :expected_4);
