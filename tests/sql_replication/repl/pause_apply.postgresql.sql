-- The replica keeps receiving WAL but replays nothing until resumed.
SELECT pg_wal_replay_pause()
