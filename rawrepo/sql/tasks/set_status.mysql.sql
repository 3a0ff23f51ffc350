-- Move one task to :new_status only while its status is still one of the expected ones.
-- MySQL: by the primary key always (a scan of the status index would lock its entries
-- before the row, in the opposite order to a concurrent move: a deadlock).
UPDATE tasks FORCE INDEX (PRIMARY)
SET status = :new_status,
    completed_at = :completed_at,
    updated_at = :updated_at
WHERE id = :id
  AND status IN (:expected_1, :expected_2, :expected_3, :expected_4);
