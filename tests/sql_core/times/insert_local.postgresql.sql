-- PostgreSQL only: a timestamp without time zone takes naive datetimes as they are.
INSERT INTO core_times (id, local_at) VALUES (:id, :local_at)
