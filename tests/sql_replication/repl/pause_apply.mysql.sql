-- The replica keeps receiving the primary's binlog but applies nothing.
STOP SLAVE SQL_THREAD
