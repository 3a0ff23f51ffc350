"""Throwaway database servers that tests may stop, crash and restart.

The shared servers of the machine (127.0.0.1:5432 and :3306) are never touched:
each backend here gets its own instance in a temporary folder, on a free
loopback port, deleted at the end of the test session.

- :class:`PostgresServer`: ``initdb`` + ``pg_ctl`` (run as the ``postgres`` OS user
  when the tests run as root, which PostgreSQL refuses). ``pg_hba.conf`` trusts
  the ``postgres`` superuser and asks every other role for its password.
- :class:`MariaDBServer`: ``mariadb-install-db`` + ``mariadbd`` (``--user=mysql``
  under root); root has no password, other users do.
- :class:`SQLiteServer`: SQLite has no server. Its "stop" is the nearest thing: the
  database folder becomes unreachable (moved away, its path taken by a file, as
  an unmounted volume would be) and the open connections are closed under the
  pool; "start" puts the folder back.

Every server offers the same methods, so a test is written once for all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from rawrepo import Database, Session
from rawrepo.config import parse_url
from rawrepo.drivers.base import Connection, load_driver

SQL_DIR = Path(__file__).resolve().parent.parent / "sql_reliability" / "queries"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql_reliability" / "migrations"
START_TIMEOUT = 30.0

Kill = Callable[[], Awaitable[None]]


class ServerUnavailable(RuntimeError):
    """A throwaway server could not be set up or started (the reason says why)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"{' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise ServerUnavailable(
            f"{' '.join(args)} exited {done.returncode}: {(done.stderr or done.stdout)[-2000:]}"
        )
    return done


def _find(names: tuple[str, ...], patterns: tuple[str, ...] = ()) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for pattern in patterns:
        hits = sorted(glob.glob(pattern), reverse=True)
        if hits:
            return hits[0]
    raise ServerUnavailable(f"none of {', '.join(names)} is installed")


def _as_root() -> bool:
    return os.geteuid() == 0


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _tcp_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


class ThrowawayServer:
    """What every throwaway server offers (see the module docstring)."""

    backend: ClassVar[str]

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"rawrepo-{self.backend}-"))
        self.running = False
        # the URL scheme of the test target (mysql or mysql+asyncmy), set per test
        self.scheme = self.backend

    # -- lifecycle ---------------------------------------------------------------

    def setup(self) -> None:
        """Create the instance and start it."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the stopped instance (same port, same data)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the instance the hard way (a crash), without a clean shutdown."""
        raise NotImplementedError

    def destroy(self) -> None:
        """Stop the instance if it runs and delete its folder."""
        with contextlib.suppress(Exception):
            if self.running:
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    # -- databases ---------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        """A URL of the superuser (who may create databases and kill connections)."""
        raise NotImplementedError

    def url_for(
        self, database: str, *, user: str | None = None, password: str | None = None
    ) -> str:
        """The URL of ``database`` for the superuser, or for ``user``/``password``."""
        raise NotImplementedError

    async def create_database(self) -> str:
        """A new empty database; returns the superuser's URL of it."""
        name = f"rel_{uuid.uuid4().hex[:12]}"
        await load_driver(parse_url(self.admin_url)).create_database(name)
        return self.url_for(name)

    def attach(self, db: Database) -> None:
        """Let :meth:`kill_connections` and :meth:`stop` reach ``db``'s connections
        (needed only where there is no server to do it: SQLite)."""

    # -- faults ------------------------------------------------------------------

    async def kill_connections(self, url: str) -> int:
        """Kill every connection to ``url``'s database from another connection, as an
        administrator or a failover would; returns how many were killed."""
        async with Database(url, sql_dir=SQL_DIR) as admin, admin.session() as session:
            victims = await session.fetch_all("rel.other_connections")
            for row in victims:
                await session.execute("rel.kill", pid=row["pid"])
        return len(victims)

    async def prepare_kill(self, session: Session) -> Kill:
        """Note ``session``'s connection; the returned call kills it from elsewhere
        (while it runs a statement)."""
        pid = await session.fetch_value("rel.connection_id")
        url = session.database.url.render(mask=False)

        async def kill() -> None:
            async with Database(url, sql_dir=SQL_DIR) as admin, admin.session() as other:
                await other.execute("rel.kill", pid=pid)

        return kill


class PostgresServer(ThrowawayServer):
    """A PostgreSQL cluster in a temporary folder; ``settings`` are extra server
    settings (``{"shared_preload_libraries": "pg_stat_statements"}``)."""

    backend = "postgresql"
    extra_options = ""  # more ``-c name=value`` server options (the replication tests')

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        super().__init__()
        self.settings = dict(settings or {})
        self.port = free_port()
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        bindir = "/usr/lib/postgresql/*/bin/"
        self.initdb = _find(("initdb",), (bindir + "initdb",))
        self.pg_ctl = _find(("pg_ctl",), (bindir + "pg_ctl",))

    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if _as_root() else args

    def setup(self) -> None:
        if _as_root():
            _chown(self.root, "postgres")
        _run(
            self._as_postgres(
                [
                    self.initdb,
                    "-D", str(self.data),
                    "-U", "postgres",
                    "-A", "trust",
                    "-E", "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                    "--no-instructions",
                ]
            )
        )  # fmt: skip
        # The superuser needs no password; every other role must give its own.
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c shared_buffers=16MB -c max_connections=150"
            f" {self.extra_options}"
        ) + "".join(f" -c {key}={value}" for key, value in self.settings.items())
        _run(
            self._as_postgres(
                [self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.log),
                 "-w", "-t", str(int(START_TIMEOUT)), "start"]
            )
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        # -m immediate: every server process quits at once, no checkpoint, as in a crash;
        # the next start runs crash recovery from the WAL.
        _run(
            self._as_postgres([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        )
        self.running = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(
        self, database: str, *, user: str | None = None, password: str | None = None
    ) -> str:
        return _server_url("postgresql", self.port, database, user or "postgres", password)


class MariaDBServer(ThrowawayServer):
    """A MariaDB (or MySQL) instance in a temporary folder; ``options`` are extra
    server options (``["--performance-schema=ON"]``)."""

    backend = "mysql"
    extra_args: tuple[str, ...] = ()  # more mariadbd options (the replication tests')

    def __init__(self, options: list[str] | None = None) -> None:
        super().__init__()
        self.options = list(options or [])
        self.port = free_port()
        self.data = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.log = self.root / "server.log"
        self.install = _find(("mariadb-install-db", "mysql_install_db"))
        self.daemon = _find(("mariadbd", "mysqld"), ("/usr/sbin/mariadbd", "/usr/sbin/mysqld"))
        self.process: subprocess.Popen[bytes] | None = None

    def setup(self) -> None:
        self.create_data()
        self.start()

    def create_data(self) -> None:
        """``mariadb-install-db`` into the (new) data folder."""
        args = [
            self.install,
            "--no-defaults",
            f"--datadir={self.data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        if _as_root():
            _chown(self.root, "mysql")
            args.append("--user=mysql")
        _run(args, timeout=120)

    def command(self, *extra: str) -> list[str]:
        """The mariadbd command line: this server's folder, port, socket and logs on
        loopback (never the shared server's), then ``extra`` options."""
        args = [
            self.daemon,
            "--no-defaults",
            f"--datadir={self.data}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--pid-file={self.root / 'mysqld.pid'}",
            f"--log-error={self.log}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--max-connections=300",
            *extra,
        ]
        if _as_root():
            args.append("--user=mysql")
        return args

    def start(self) -> None:
        args = self.command(*self.options, *self.extra_args)
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/"
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if _tcp_answers(self.port):
                self.running = True
                return
            time.sleep(0.05)
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        self._kill()
        raise ServerUnavailable(f"mariadbd did not answer on port {self.port}: {log}")

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        # SIGKILL: the server dies mid-flight; InnoDB recovers from its redo log on start.
        self._kill()
        self.running = False

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        self._kill()
        self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/mysql"

    def url_for(
        self, database: str, *, user: str | None = None, password: str | None = None
    ) -> str:
        return _server_url(self.scheme, self.port, database, user or "root", password)


def _server_url(scheme: str, port: int, database: str, user: str, password: str | None) -> str:
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    return f"{scheme}://{auth}@127.0.0.1:{port}/{database}"


class SQLiteServer(ThrowawayServer):
    """SQLite files in a folder; see the module docstring for what stop/start mean."""

    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.live = self.root / "live"
        self.away = self.root / "away"
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()

    def setup(self) -> None:
        self.live.mkdir()
        self.running = True

    def start(self) -> None:
        if self.live.is_file():
            self.live.unlink()
        self.away.rename(self.live)
        self.running = True

    async def astop(self) -> None:
        # The folder first (so no new connection can open it), then the open ones.
        self.stop()
        await self._close_all()

    def stop(self) -> None:
        self.live.rename(self.away)
        self.live.write_text("the database folder is gone\n")  # the driver cannot mkdir it
        self.running = False

    @property
    def admin_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.live / 'admin.db'}"

    def url_for(
        self, database: str, *, user: str | None = None, password: str | None = None
    ) -> str:
        return f"sqlite+aiosqlite:///{self.live / database}.db"

    async def create_database(self) -> str:
        return self.url_for(f"rel_{uuid.uuid4().hex[:12]}")

    def attach(self, db: Database) -> None:
        driver: Any = db.driver
        connect = driver.connect
        seen = self._connections

        async def tracked(timeout: float) -> Connection:
            conn = await connect(timeout)
            seen.add(conn)
            return conn  # type: ignore[no-any-return]

        driver.connect = tracked

    async def _close_all(self) -> int:
        open_ = [c for c in list(self._connections) if not c.is_closed()]
        for conn in open_:
            await conn.close()
        return len(open_)

    async def kill_connections(self, url: str) -> int:
        # No server to kill them: close them under the pool, as a crashed helper thread
        # or a closed file handle would leave them.
        return await self._close_all()

    async def prepare_kill(self, session: Session) -> Kill:
        # Nothing outside the process can kill an SQLite connection; the nearest thing
        # is interrupting its running statement from another thread (sqlite3_interrupt).
        raw: Any = session.connection.raw  # type: ignore[attr-defined]

        async def kill() -> None:
            raw._connection.interrupt()

        return kill


SERVERS: dict[str, type[ThrowawayServer]] = {
    "postgresql": PostgresServer,
    "mysql": MariaDBServer,
    "sqlite": SQLiteServer,
}
