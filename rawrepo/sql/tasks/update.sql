-- Apply a partial change to one task: a column changes only when its set_ flag is true.
-- title_folded (the case-folded title, made by the application) follows the title.
-- completed_at follows a status change: kept (or set now) for 'completed', cleared otherwise.
UPDATE tasks
SET title = CASE WHEN :set_title THEN :title ELSE title END,
    title_folded = CASE WHEN :set_title THEN :title_folded ELSE title_folded END,
    description = CASE WHEN :set_description THEN :description ELSE description END,
    status = CASE WHEN :set_status THEN :status ELSE status END,
    completed_at = CASE
        WHEN NOT :set_status THEN completed_at
        WHEN :status = 'completed' THEN COALESCE(completed_at, :updated_at)
        ELSE NULL
    END,
    updated_at = :updated_at
WHERE id = :id;
