"""Replication positions, one small class per dialect with the same method set.

A *token* is a committed write's position in the primary's replication stream, as
text a user may keep (in a cookie, say) and hand back later:

- PostgreSQL: a WAL LSN, ``16/B374D848``: the primary's WAL insert position read
  right after COMMIT (``pg_current_wal_insert_lsn()``), so it lies at or after the
  commit record; a replica has the write once ``pg_last_wal_replay_lsn()`` reaches it.
- MariaDB: a GTID list, ``0-1-42`` (``domain-server-sequence``, comma-separated for
  several domains): the session's ``@@last_gtid`` after COMMIT; a replica has it
  once ``MASTER_GTID_WAIT`` says so. Two tokens compare domain by domain.

Everything here runs on a driver connection of :mod:`rawrepo.drivers` and turns
driver errors into :mod:`rawrepo.errors` as the drivers do. Oracle MySQL's GTIDs
(``server_uuid:1-42`` sets) are a different mechanism and not supported.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from rawrepo.config import Dialect
from rawrepo.drivers.base import Connection
from rawrepo.errors import ConfigurationError, DatabaseError

__all__ = ["ReplicaStatus", "Replication", "replication_for"]


@dataclass(frozen=True)
class ReplicaStatus:
    """What a replica says about itself."""

    is_replica: bool
    """False for a server that replicates from nobody (not in recovery, no slave status)."""
    lag_seconds: float | None
    """0 when it has applied all it received; else the age of the last transaction it
    applied; None when replication is not running (the lag is unknown)."""
    note: str | None = None
    """Why the lag is unknown, or why the server is not a replica."""


class Replication(Protocol):
    """Positions and replica state for one dialect."""

    def normalize(self, token: str) -> str:
        """The token in canonical form, or ValueError saying which form is expected."""
        ...

    def later(self, a: str, b: str) -> str:
        """A token at or after both (the later LSN; per GTID domain, the later one)."""
        ...

    def covers(self, position: str, token: str) -> bool:
        """Whether a replica at ``position`` has applied ``token``."""
        ...

    async def commit_position(self, conn: Connection) -> str | None:
        """Right after COMMIT on ``conn``: a token at or after that commit."""
        ...

    async def server_position(self, conn: Connection) -> str | None:
        """A token at or after every commit the primary has made so far."""
        ...

    async def replica_status(self, conn: Connection) -> ReplicaStatus: ...

    async def applied(self, conn: Connection) -> str | None:
        """The replica's applied position now (None: it is not a replica)."""
        ...

    async def identity(self, conn: Connection) -> str:
        """What tells this server from every other one (to notice a "replica" URL that
        leads to the primary itself)."""
        ...

    async def reached(self, conn: Connection, token: str, timeout: float) -> bool:
        """Whether the replica has applied ``token``, waiting up to ``timeout`` s for it."""
        ...


# -- PostgreSQL ----------------------------------------------------------------------

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")

# Only the WAL receiver's pid is visible to a role without pg_read_all_stats: it is
# enough to tell whether the replica is connected to its primary.
_PG_STATUS = (
    "SELECT pg_is_in_recovery(),"
    " (SELECT pid FROM pg_stat_wal_receiver LIMIT 1),"
    # replayed all it received (after a restart the receiver starts again behind)
    " CASE WHEN COALESCE(pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(), true)"
    " THEN 0.0::float8"
    " ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()),"
    " 0)::float8 END"
)


def lsn_value(token: str) -> int:
    """An LSN's text (``16/B374D848``) as a number; ValueError if it is not one."""
    match = _LSN.match(token.strip()) if isinstance(token, str) else None
    if match is None:
        raise ValueError(f"not a PostgreSQL write token (a WAL LSN such as 16/B374D848): {token!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _pg(conn: Connection) -> Any:
    from rawrepo.drivers.postgresql import PostgresConnection

    if not isinstance(conn, PostgresConnection):  # pragma: no cover - wired by dialect
        raise TypeError(f"not a PostgreSQL connection: {conn!r}")
    return conn.raw


async def _pg_value(conn: Connection, sql: str) -> Any:
    from rawrepo.drivers.postgresql import translate_error

    try:
        return await _pg(conn).fetchval(sql)
    except Exception as exc:
        raise translate_error(exc) from exc


class PostgresReplication:
    """WAL positions: ``pg_current_wal_insert_lsn()`` / ``pg_last_wal_replay_lsn()``."""

    def normalize(self, token: str) -> str:
        return lsn_text(lsn_value(token))

    def later(self, a: str, b: str) -> str:
        return a if lsn_value(a) >= lsn_value(b) else b

    def covers(self, position: str, token: str) -> bool:
        return lsn_value(position) >= lsn_value(token)

    async def applied(self, conn: Connection) -> str | None:
        value = await _pg_value(conn, "SELECT pg_last_wal_replay_lsn()::text")
        return None if value is None else self.normalize(str(value))

    async def identity(self, conn: Connection) -> str:
        # A replica shares the primary's system identifier; the postmaster's start time
        # tells the servers of one cluster apart.
        return str(
            await _pg_value(
                conn,
                "SELECT (SELECT system_identifier FROM pg_control_system())::text"
                " || '/' || pg_postmaster_start_time()::text",
            )
        )

    async def commit_position(self, conn: Connection) -> str | None:
        return await self.server_position(conn)

    async def server_position(self, conn: Connection) -> str | None:
        # The insert position, not the write or flush one: with synchronous_commit off
        # the commit record may not be written yet, and the token must not precede it.
        value = await _pg_value(conn, "SELECT pg_current_wal_insert_lsn()::text")
        return None if value is None else self.normalize(str(value))

    async def replica_status(self, conn: Connection) -> ReplicaStatus:
        from rawrepo.drivers.postgresql import translate_error

        try:
            row = await _pg(conn).fetchrow(_PG_STATUS)
        except Exception as exc:
            raise translate_error(exc) from exc
        in_recovery, receiver, lag = row[0], row[1], row[2]
        if not in_recovery:
            return ReplicaStatus(False, None, "not a replica (pg_is_in_recovery() is false)")
        if receiver is None:
            return ReplicaStatus(
                True, None, "not streaming from the primary (no WAL receiver is running)"
            )
        return ReplicaStatus(True, max(0.0, float(lag)))

    async def reached(self, conn: Connection, token: str, timeout: float) -> bool:
        # PostgreSQL 15 has no server-side wait for a replay position: poll, quickly first.
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            replayed = await self.applied(conn)
            if replayed is None:
                return False  # not a replica: it will never replay anything
            if self.covers(replayed, token):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)


# -- MariaDB -------------------------------------------------------------------------

_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def gtid_positions(token: str) -> dict[int, tuple[int, int]]:
    """A GTID list (``0-1-42,1-2-7``) as ``{domain: (server_id, sequence)}``."""
    if not isinstance(token, str):
        raise ValueError(f"not a MariaDB write token (a GTID such as 0-1-42): {token!r}")
    out: dict[int, tuple[int, int]] = {}
    for part in token.split(","):
        match = _GTID.match(part.strip())
        if match is None:
            raise ValueError(
                "not a MariaDB write token (a GTID such as 0-1-42, comma-separated for"
                f" several domains): {token!r}"
            )
        domain, server, seq = (int(g) for g in match.groups())
        if domain not in out or seq > out[domain][1]:
            out[domain] = (server, seq)
    return out


def gtid_text(positions: dict[int, tuple[int, int]]) -> str:
    return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(positions.items()))


def _mysql(conn: Connection) -> Any:
    from rawrepo.drivers.mysql import MySQLConnection

    if not isinstance(conn, MySQLConnection):  # pragma: no cover - wired by dialect
        raise TypeError(f"not a MySQL connection: {conn!r}")
    return conn


async def _mysql_rows(
    conn: Connection, sql: str, args: tuple[Any, ...] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    my = _mysql(conn)
    try:
        async with my.raw.cursor() as cur:
            await cur.execute(sql, args)
            rows = await cur.fetchall()
            names = [d[0] for d in cur.description] if cur.description else []
    except Exception as exc:
        raise my._error(exc) from exc
    return names, list(rows or ())


class MariaDBReplication:
    """GTIDs: ``@@last_gtid`` on the primary, ``MASTER_GTID_WAIT`` on the replica."""

    def normalize(self, token: str) -> str:
        return gtid_text(gtid_positions(token))

    def later(self, a: str, b: str) -> str:
        merged = gtid_positions(a)
        for domain, (server, seq) in gtid_positions(b).items():
            if domain not in merged or seq > merged[domain][1]:
                merged[domain] = (server, seq)
        return gtid_text(merged)

    def covers(self, position: str, token: str) -> bool:
        have = gtid_positions(position)
        return all(
            domain in have and have[domain][1] >= seq
            for domain, (_, seq) in gtid_positions(token).items()
        )

    async def applied(self, conn: Connection) -> str | None:
        # What MASTER_GTID_WAIT compares with: the GTIDs the replica has applied.
        return await self._gtid(conn, "gtid_slave_pos")

    async def identity(self, conn: Connection) -> str:
        # Replication needs a server_id of its own on every server.
        _, rows = await _mysql_rows(conn, "SELECT @@server_id, @@hostname, @@port")
        return "/".join(str(v) for v in rows[0])

    async def _gtid(self, conn: Connection, variable: str) -> str | None:
        _check_mariadb(conn)
        _, rows = await _mysql_rows(conn, f"SELECT @@{variable}")
        value = rows[0][0] if rows else None
        if isinstance(value, bytes):
            value = value.decode()
        return self.normalize(value) if value else None

    async def commit_position(self, conn: Connection) -> str | None:
        # The GTID of this connection's last binlogged transaction: the commit just made
        # (or, if it changed no row and so logged nothing, an earlier one, which is fine).
        return await self._gtid(conn, "last_gtid")

    async def server_position(self, conn: Connection) -> str | None:
        return await self._gtid(conn, "gtid_binlog_pos")

    async def replica_status(self, conn: Connection) -> ReplicaStatus:
        try:
            names, rows = await _mysql_rows(conn, "SHOW SLAVE STATUS")
        except DatabaseError as exc:
            if exc.sqlstate != "1227":  # access denied: a login without the privilege
                raise
            return ReplicaStatus(
                True,
                None,
                "SHOW SLAVE STATUS needs the SLAVE MONITOR (or REPLICATION CLIENT) privilege",
            )
        if not rows:
            return ReplicaStatus(False, None, "not a replica (SHOW SLAVE STATUS is empty)")
        status = dict(zip(names, rows[0], strict=False))
        io, sql = status.get("Slave_IO_Running"), status.get("Slave_SQL_Running")
        behind = status.get("Seconds_Behind_Master")
        if io != "Yes" or sql != "Yes" or behind is None:
            error = status.get("Last_SQL_Error") or status.get("Last_IO_Error") or ""
            note = f"replication is not running (IO thread: {io}, SQL thread: {sql})"
            return ReplicaStatus(True, None, f"{note}: {error}" if error else note)
        return ReplicaStatus(True, float(behind))

    async def reached(self, conn: Connection, token: str, timeout: float) -> bool:
        _, rows = await _mysql_rows(
            conn, "SELECT MASTER_GTID_WAIT(%s, %s)", (self.normalize(token), max(timeout, 0.0))
        )
        return bool(rows) and rows[0][0] == 0


def _check_mariadb(conn: Connection) -> None:
    info = str(_mysql(conn).raw.get_server_info())
    if "mariadb" not in info.lower():
        raise ConfigurationError(
            f"read replicas need MariaDB's GTIDs; this server is MySQL {info}, whose GTID"
            " sets rawrepo does not track",
            variable="DATABASE_REPLICA_URLS",
        )


_BY_DIALECT: dict[Dialect, type[PostgresReplication] | type[MariaDBReplication]] = {
    "postgresql": PostgresReplication,
    "mysql": MariaDBReplication,
}


def replication_for(dialect: Dialect) -> Replication:
    """The position logic of ``dialect``; SQLite has none (ConfigurationError)."""
    cls = _BY_DIALECT.get(dialect)
    if cls is None:
        raise ConfigurationError("SQLite has no replicas", variable="DATABASE_REPLICA_URLS")
    return cls()
