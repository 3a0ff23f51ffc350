"""A throwaway pgbouncer for tests, in front of a PostgreSQL server.

The pytest plugin's ``postgresql+pgbouncer`` target runs every PostgreSQL test
through one (see :mod:`rawrepo.testing`); the replication and pooler tests start
their own. It listens on a free loopback port, trusts every client (the server
behind it does its own authentication), and forwards every database name
(``* = host=... port=...``) in ``pool_mode = transaction`` with the settings
``docs/scaling.md`` recommends: ``server_reset_query = DISCARD ALL`` run after every
transaction (``server_reset_query_always = 1``), so no session state (SET, advisory
locks, temporary tables, prepared statements) passes from one client to the next.

pgbouncer refuses to run as root: under root it runs as the ``postgres`` OS user
(else ``nobody``). It needs the ``pgbouncer`` program (Debian: ``apt-get install
pgbouncer``); :class:`PgBouncerUnavailable` says so when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from rawrepo.config import DatabaseURL, parse_url

__all__ = ["PgBouncer", "PgBouncerUnavailable", "kill_clients"]

START_TIMEOUT = 15.0


class PgBouncerUnavailable(RuntimeError):
    """pgbouncer is not installed, or did not start (the message says why)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    """The OS user to run pgbouncer as (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PgBouncerUnavailable("running as root, and no postgres or nobody user to run as")


class PgBouncer:
    """One pgbouncer process; ``start()`` it, ``url(database)``, ``stop()`` it.

    ``server_url`` is any URL of the server behind it (host, port, user and password
    are taken from it). ``pool_size`` is each database's pool of server connections
    (pgbouncer's ``default_pool_size``); ``reset_always=False`` leaves pgbouncer's
    default, where session state passes between clients (to show what that does).
    """

    def __init__(
        self,
        server_url: str,
        *,
        pool_mode: str = "transaction",
        pool_size: int = 10,
        reset_always: bool = True,
        max_user_connections: int = 40,
    ) -> None:
        self.server: DatabaseURL = parse_url(server_url)
        if self.server.dialect != "postgresql":
            raise ValueError(f"pgbouncer pools PostgreSQL connections, not {self.server}")
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.reset_always = reset_always
        self.max_user_connections = max_user_connections
        self.port = 0
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def url(self, database: str | None = None, **options: str) -> str:
        """A URL of ``database`` (default: the server URL's) through pgbouncer, with the
        server URL's credentials and ``options`` as query parameters."""
        server = self.server
        auth = quote(server.username or "postgres", safe="")
        if server.password is not None:
            auth += ":" + quote(server.password, safe="")
        name = quote(database or server.database or "postgres", safe="")
        text = f"postgresql://{auth}@127.0.0.1:{self.port}/{name}"
        if options:
            text += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in options.items())
        return text

    def _config(self, root: Path) -> str:
        server = self.server
        lines = [
            "[databases]",
            f"* = host={server.host} port={server.port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {root / 'users.txt'}",
            f"admin_users = {server.username or 'postgres'}",
            f"pool_mode = {self.pool_mode}",
            f"default_pool_size = {self.pool_size}",
            f"max_user_connections = {self.max_user_connections}",
            "max_client_conn = 2000",
            "server_idle_timeout = 10",
            "autodb_idle_timeout = 10",
            "server_reset_query = DISCARD ALL",
            f"server_reset_query_always = {1 if self.reset_always else 0}",
            "ignore_startup_parameters = extra_float_digits",
            f"logfile = {root / 'pgbouncer.log'}",
            "log_connections = 0",
            "log_disconnections = 0",
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start pgbouncer and wait until it accepts connections."""
        program = shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
        )
        if program is None:
            raise PgBouncerUnavailable(
                "pgbouncer is not installed (Debian/Ubuntu: apt-get install pgbouncer)"
            )
        user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="rawrepo-pgbouncer-"))
        self.port = _free_port()
        config = self.root / "pgbouncer.ini"
        config.write_text(self._config(self.root))
        (self.root / "users.txt").write_text(f'"{self.server.username or "postgres"}" ""\n')
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (self.root, *self.root.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.process = subprocess.Popen(
            [program, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            user=user,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                return
            time.sleep(0.05)
        log = self.log()
        self.stop()
        raise PgBouncerUnavailable(f"pgbouncer did not answer on port {self.port}: {log}")

    def log(self) -> str:
        """The end of pgbouncer's log."""
        path = self.root / "pgbouncer.log" if self.root else None
        if path is None or not path.exists():
            return ""
        return path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """Stop pgbouncer (its pid only) and delete its folder."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def kill_clients(url: str) -> None:
    """Drop every client (and server) connection to ``url``'s database at the pgbouncer
    ``url`` points to, with its admin console's ``KILL`` (as a pooler restart would).
    The URL's user must be one of pgbouncer's ``admin_users`` (a :class:`PgBouncer`'s
    server user is)."""
    import asyncpg

    from rawrepo.drivers.base import safe_identifier

    target = parse_url(url)
    # The admin console speaks the simple query protocol only: no statement cache.
    admin = await asyncpg.connect(
        host=target.host,
        port=target.port,
        user=target.username or "postgres",
        password=target.password,
        database="pgbouncer",
        statement_cache_size=0,
    )
    name = safe_identifier(target.database or "postgres")
    try:
        await admin.execute(f"KILL {name}")
        await admin.execute(f"RESUME {name}")  # KILL also holds back new clients
    finally:
        await admin.close()
