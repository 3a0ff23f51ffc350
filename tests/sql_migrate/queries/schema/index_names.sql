-- Index names in the current database (MySQL/MariaDB).
SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY index_name
