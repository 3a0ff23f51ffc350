"""Throwaway replicated servers: a primary and streaming replicas, started by the tests.

- :class:`PostgresTopology`: a primary (``initdb`` on a free loopback port, with a
  ``host replication`` line) and replicas made by ``pg_basebackup -R`` (streaming,
  hot standby). Lag on purpose: ``recovery_min_apply_delay`` on a replica.
- :class:`MariaDBTopology`: ``mariadbd`` instances from one ``mariadb-install-db``
  data folder, the primary with a binlog, each replica following it with
  ``CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos``. Lag on purpose:
  ``MASTER_DELAY``, or ``STOP SLAVE SQL_THREAD``.

Both offer the same methods, so a test is written once for both backends. They
are built from the fault suite's servers (``tests/reliability/servers.py``), so
they run as the ``postgres`` / ``mysql`` OS users under root as those do, and are
stopped by pid and deleted at the end of the test session.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import ClassVar

from rawrepo import Database
from rawrepo.config import parse_url
from rawrepo.drivers.base import load_driver
from rawrepo.drivers.replication import replication_for
from tests.reliability.servers import (
    MariaDBServer,
    PostgresServer,
    ServerUnavailable,
    _as_root,
    _chown,
    _find,
    _run,
)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql_replication"
CATCH_UP_TIMEOUT = 30.0


class _PostgresPrimary(PostgresServer):
    extra_options = "-c wal_level=replica -c max_wal_senders=10 -c wal_keep_size=256MB"

    def setup(self) -> None:
        super().setup()
        hba = self.data / "pg_hba.conf"
        hba.write_text(hba.read_text() + "host replication postgres 127.0.0.1/32 trust\n")
        _run(self._as_postgres([self.pg_ctl, "-D", str(self.data), "reload"]))


class _PostgresReplica(PostgresServer):
    """A hot standby of ``primary``, cloned with ``pg_basebackup -R``."""

    extra_options = "-c hot_standby=on -c wal_receiver_status_interval=1s"

    def __init__(self, primary: PostgresServer) -> None:
        super().__init__()
        self.primary = primary
        bindir = "/usr/lib/postgresql/*/bin/"
        self.basebackup = _find(("pg_basebackup",), (bindir + "pg_basebackup",))

    def setup(self) -> None:
        if _as_root():
            _chown(self.root, "postgres")
        _run(
            self._as_postgres(
                [
                    self.basebackup,
                    "-h", "127.0.0.1",
                    "-p", str(self.primary.port),
                    "-U", "postgres",
                    "-D", str(self.data),
                    "-R",  # standby.signal + primary_conninfo: a streaming replica
                    "-X", "stream",
                    "-c", "fast",
                    "--no-sync",
                ]
            ),
            timeout=120,
        )  # fmt: skip
        self.start()


class _MariaDB(MariaDBServer):
    """One mariadbd of a replicated set (its data folder copied from a template)."""

    def __init__(self, server_id: int, template: Path | None) -> None:
        super().__init__()
        self.server_id = server_id
        self.template = template
        self.extra_args = (
            f"--server-id={server_id}",
            "--log-bin=mariadb-bin",
            "--binlog-format=ROW",
            "--log-slave-updates",
            "--gtid-strict-mode=1",
            f"--relay-log={self.root / 'relay-bin'}",
        )

    def setup(self) -> None:
        if self.template is None:
            super().setup()
            return
        shutil.copytree(self.template, self.data)
        if _as_root():
            _chown(self.root, "mysql")
        self.start()


class Topology:
    """A primary and its replicas; see the module docstring."""

    backend: ClassVar[str]
    primary: PostgresServer | MariaDBServer
    replicas: list[PostgresServer] | list[MariaDBServer]

    def setup(self) -> None:
        raise NotImplementedError

    def destroy(self) -> None:
        for server in [*self.replicas, self.primary]:
            if server.running:
                server.stop()  # the hard way: nothing in them is worth a clean shutdown
            server.destroy()

    # -- URLs and databases -----------------------------------------------------------

    @property
    def scheme(self) -> str:
        return self.primary.scheme

    @scheme.setter
    def scheme(self, value: str) -> None:
        for server in [self.primary, *self.replicas]:
            server.scheme = value

    def primary_url(self, database: str) -> str:
        return self.primary.url_for(database)

    def replica_urls(self, database: str) -> list[str]:
        return [replica.url_for(database) for replica in self.replicas]

    async def create_database(self) -> str:
        """A new database on the primary with the ``repl_notes`` table, once every
        replica has it too; returns its name."""
        name = f"repl_{uuid.uuid4().hex[:12]}"
        await load_driver(parse_url(self.primary.admin_url)).create_database(name)
        async with Database(self.primary_url(name), sql_dir=SQL_DIR) as db, db.session() as session:
            await session.execute("repl.create_notes")
        await self.wait_for_replicas(name)
        return name

    async def wait_for_replicas(self, database: str) -> None:
        """Until every replica has the primary's current position (within 30 s)."""
        ops = replication_for(parse_url(self.primary.admin_url).dialect)
        async with (
            Database(self.primary_url(database), sql_dir=SQL_DIR) as db,
            db.session() as session,
        ):
            token = await ops.server_position(session.connection)
        assert token is not None
        for replica in self.replicas:
            # the server's admin database: the new one may not be there yet
            async with Database(replica.admin_url) as rdb, rdb.session() as rs:
                if not await ops.reached(rs.connection, token, CATCH_UP_TIMEOUT):
                    raise ServerUnavailable(f"replica on port {replica.port} did not catch up")

    # -- lag and faults ---------------------------------------------------------------

    delays: dict[int, float]
    paused: set[int]

    async def set_delay(self, index: int, seconds: float) -> None:
        """Make replica ``index`` apply changes ``seconds`` late (0: on time again)."""
        if self.delays.get(index, 0) != seconds:
            await asyncio.to_thread(self._set_delay, index, seconds)
            self.delays[index] = seconds

    def _set_delay(self, index: int, seconds: float) -> None:
        raise NotImplementedError

    async def pause(self, index: int) -> None:
        """Replica ``index`` keeps receiving changes but applies none until resumed."""
        await self._replica_admin(index, "repl.pause_apply")
        self.paused.add(index)

    async def resume(self, index: int) -> None:
        if index in self.paused:
            await self._replica_admin(index, "repl.resume_apply")
            self.paused.discard(index)

    async def _replica_admin(self, index: int, query: str) -> None:
        url = self.replicas[index].admin_url
        async with (
            Database(url, sql_dir=SQL_DIR) as admin,
            admin.session(autocommit=True) as session,
        ):
            await session.execute(query)

    async def pause_all(self) -> None:
        for index in range(len(self.replicas)):
            await self.pause(index)

    async def resume_all(self) -> None:
        for index in range(len(self.replicas)):
            await self.resume(index)

    async def stop_replica(self, index: int) -> None:
        await asyncio.to_thread(self.replicas[index].stop)

    async def start_replica(self, index: int) -> None:
        """Start a stopped replica; return once it replicates from the primary again."""
        replica = self.replicas[index]
        await asyncio.to_thread(replica.start)
        await self.after_replica_start(index)
        ops = replication_for(parse_url(replica.admin_url).dialect)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT
        async with Database(replica.admin_url) as admin:
            while True:
                async with admin.session() as session:
                    status = await ops.replica_status(session.connection)
                if status.lag_seconds is not None:  # its WAL receiver / IO thread runs
                    return
                if time.monotonic() > deadline:
                    raise ServerUnavailable(f"replica {index} does not replicate: {status.note}")
                await asyncio.sleep(0.1)

    async def after_replica_start(self, index: int) -> None:
        """Whatever a restarted replica needs to replicate again."""
        self.paused.discard(index)  # a restarted PostgreSQL replica replays again

    async def kill_replica_connections(self, index: int, database: str) -> int:
        """Kill every client connection to ``database`` on replica ``index``."""
        url = self.replicas[index].url_for(database)
        async with Database(url, sql_dir=SQL_DIR) as admin, admin.session() as session:
            victims = await session.fetch_all("repl.other_connections")
            for row in victims:
                await session.execute("repl.kill", pid=row["pid"])
        return len(victims)


class PostgresTopology(Topology):
    backend = "postgresql"

    def __init__(self, replicas: int = 2) -> None:
        self.primary = _PostgresPrimary()
        self.replicas = [_PostgresReplica(self.primary) for _ in range(replicas)]
        self.delays, self.paused = {}, set()

    def setup(self) -> None:
        self.primary.setup()
        for replica in self.replicas:
            replica.setup()

    def _set_delay(self, index: int, seconds: float) -> None:
        # ALTER SYSTEM would write the same file, but it takes no bound parameters.
        replica = self.replicas[index]
        conf = replica.data / "postgresql.auto.conf"
        lines = [
            line
            for line in conf.read_text().splitlines()
            if not line.startswith("recovery_min_apply_delay")
        ]
        lines.append(f"recovery_min_apply_delay = '{int(seconds * 1000)}ms'")
        conf.write_text("\n".join(lines) + "\n")
        _run(replica._as_postgres([replica.pg_ctl, "-D", str(replica.data), "reload"]))
        time.sleep(0.2)  # the startup process rereads its settings on SIGHUP


class MariaDBTopology(Topology):
    backend = "mysql"

    def __init__(self, replicas: int = 2) -> None:
        self.primary = _MariaDB(1, None)
        self.replicas = [_MariaDB(i + 2, self.primary.data) for i in range(replicas)]
        self.delays, self.paused = {}, set()

    def setup(self) -> None:
        primary = self.primary
        # One mariadb-install-db, copied before any server writes to it: every instance
        # starts with the same system tables, so replication can start from nothing.
        primary.create_data()
        for replica in self.replicas:
            replica.setup()
        primary.start()
        for index in range(len(self.replicas)):
            self._follow(index)

    def _follow(self, index: int, delay: float = 0) -> None:
        replica = self.replicas[index]
        statements = [
            "STOP SLAVE",
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.primary.port},"
            f" MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos,"
            f" MASTER_DELAY={int(delay)}, MASTER_CONNECT_RETRY=1",
            "START SLAVE",
        ]
        mariadb = _find(("mariadb", "mysql"))
        for sql in statements:
            done = subprocess.run(
                [mariadb, "--protocol=tcp", "-h", "127.0.0.1", "-P", str(replica.port),
                 "-uroot", "-e", sql],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise ServerUnavailable(f"{sql}: {done.stderr}")

    def _set_delay(self, index: int, seconds: float) -> None:
        self._follow(index, seconds)

    async def after_replica_start(self, index: int) -> None:
        # Point it at the primary again from its own GTID position (its relay log may
        # be cut short by the crash), with its delay as before.
        await asyncio.to_thread(self._follow, index, self.delays.get(index, 0))
        self.paused.discard(index)


TOPOLOGIES: dict[str, type[Topology]] = {
    "postgresql": PostgresTopology,
    "mysql": MariaDBTopology,
}
