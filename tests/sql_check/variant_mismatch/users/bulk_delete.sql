-- test: neither form UserRepository.bulk_delete passes (:id per row, or :ids).
DELETE FROM users
WHERE id = :key;
