"""pytest plugin: real-database fixtures for rawrepo and for projects built on it.

Enable it with ``pytest_plugins = ["rawrepo.testing"]`` in a ``conftest.py``.

Backends come from the environment:

- ``RAWREPO_TEST_POSTGRESQL_URL`` / ``RAWREPO_TEST_MYSQL_URL``: a server URL whose
  user may create and drop databases (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``);
- without one, and with Docker answering, testcontainers starts the server;
- otherwise that backend's tests skip with a reason that says how to enable them,
  unless ``RAWREPO_TEST_REQUIRE=postgresql,mysql`` names it: then they fail.

SQLite needs nothing. Each test session creates uniquely named databases and
drops them at the end.

A test marked ``@pytest.mark.rawrepo_backends("postgresql", "mysql")`` runs only on
those dialects (or targets).

Fixtures:

- ``rawrepo_target``: the backend and driver of the current run, one of the
  ``rawrepo_backends`` ini option (default ``sqlite postgresql mysql``; add
  ``mysql+asyncmy`` to run every MySQL test on asyncmy too, and
  ``postgresql+pgbouncer`` to run every PostgreSQL test again through a pgbouncer in
  transaction mode that the plugin starts in front of the PostgreSQL server, see
  :mod:`rawrepo.pgbouncer`) or of the ``RAWREPO_TEST_BACKENDS`` variable
  (comma-separated), which wins (session, parametrized);
- ``rawrepo_backend``: its dialect, ``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (session);
- ``rawrepo_databases``: a :class:`DatabaseFactory` for that backend (session);
- ``empty_database_url``: a fresh empty database (session, one per backend);
- ``migrated_database_url``: a fresh database with the bundled migrations applied (session);
- ``rawrepo_db``: a connected :class:`~rawrepo.Database` on ``migrated_database_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rawrepo.config import Dialect, parse_url
from rawrepo.database import Database
from rawrepo.drivers.base import load_driver

__all__ = [
    "BACKENDS",
    "PGBOUNCER_TARGET",
    "DatabaseFactory",
    "backend_server_url",
    "configured_targets",
    "required_backends",
    "target_dialect",
    "target_url",
]

BACKENDS: tuple[Dialect, ...] = ("sqlite", "postgresql", "mysql")
_TARGETS_ENV = "RAWREPO_TEST_BACKENDS"
_INI = "rawrepo_backends"


def target_dialect(target: str) -> Dialect:
    """``"mysql+asyncmy"`` -> ``"mysql"``; the dialect part of a test target."""
    dialect = target.split("+", 1)[0]
    for known in BACKENDS:
        if dialect == known:
            return known
    raise pytest.UsageError(
        f"unknown rawrepo test backend {target!r}; use sqlite, postgresql, mysql or"
        " a dialect+driver form such as mysql+asyncmy"
    )


PGBOUNCER_TARGET = "postgresql+pgbouncer"


def target_url(url: str, target: str) -> str:
    """``url`` with the scheme of ``target`` when the target names a driver
    (``mysql://h/db`` for ``mysql+asyncmy`` -> ``mysql+asyncmy://h/db``). The
    ``postgresql+pgbouncer`` target names a pooler, not a driver: its URL is the
    server's (the ``rawrepo_server_url`` fixture puts pgbouncer in front)."""
    if "+" not in target or target == PGBOUNCER_TARGET:
        return url
    return f"{target}://{url.split('://', 1)[1]}"


def configured_targets(config: pytest.Config) -> list[str]:
    """The targets of this run: ``RAWREPO_TEST_BACKENDS`` if set, else the ini option."""
    raw = os.environ.get(_TARGETS_ENV)
    names = raw.replace(",", " ").split() if raw else list(config.getini(_INI))
    for name in names:
        target_dialect(name)
    return names


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        "backends (and drivers) to run each database test on, e.g."
        " 'sqlite postgresql mysql mysql+asyncmy'",
        type="args",
        default=list(BACKENDS),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rawrepo_backends(*names): run this test only on these dialects or targets"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rawrepo_target" not in metafunc.fixturenames:
        return
    targets = configured_targets(metafunc.config)
    marker = metafunc.definition.get_closest_marker("rawrepo_backends")
    if marker is not None:
        wanted = set(marker.args)
        targets = [t for t in targets if t in wanted or target_dialect(t) in wanted]
    metafunc.parametrize("rawrepo_target", targets, indirect=True, scope="session")


_ENV = {"postgresql": "RAWREPO_TEST_POSTGRESQL_URL", "mysql": "RAWREPO_TEST_MYSQL_URL"}


def required_backends() -> set[str]:
    """Backends named in ``RAWREPO_TEST_REQUIRE`` (a missing one fails the run)."""
    raw = os.environ.get("RAWREPO_TEST_REQUIRE", "")
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


class _Containers:
    """Servers started with testcontainers, stopped at the end of the session."""

    def __init__(self) -> None:
        self.started: dict[str, Any] = {}

    def url(self, backend: str) -> str:
        if backend in self.started:
            return str(self.started[backend][1])
        if backend == "postgresql":
            from testcontainers.postgres import PostgresContainer

            container: Any = PostgresContainer("postgres:16-alpine", driver=None)
            container.start()
            host, port = container.get_container_host_ip(), container.get_exposed_port(5432)
            url = f"postgresql://{container.username}:{container.password}@{host}:{port}/postgres"
        else:
            from testcontainers.mysql import MySqlContainer

            container = MySqlContainer("mariadb:10.11", root_password="rawrepo")
            container.start()
            host, port = container.get_container_host_ip(), container.get_exposed_port(3306)
            url = f"mysql://root:rawrepo@{host}:{port}/mysql"
        self.started[backend] = (container, url)
        return url

    def stop(self) -> None:
        for container, _ in self.started.values():
            with contextlib.suppress(Exception):
                container.stop()
        self.started.clear()


def backend_server_url(backend: str, containers: _Containers | None = None) -> str:
    """The server URL for ``backend``, or skip/fail (per RAWREPO_TEST_REQUIRE) with a reason."""
    env = _ENV[backend]
    url = os.environ.get(env)
    if url:
        return url
    if containers is not None and _docker_answers():
        return containers.url(backend)
    reason = (
        f"{backend} tests need a server: set {env} (e.g. "
        + (
            "postgresql://postgres@127.0.0.1:5432/postgres"
            if backend == "postgresql"
            else "mysql://root@127.0.0.1:3306/mysql"
        )
        + ") or run Docker so testcontainers can start one"
    )
    if backend in required_backends():
        pytest.fail(f"RAWREPO_TEST_REQUIRE names {backend}, but {reason}", pytrace=False)
    pytest.skip(reason)


class DatabaseFactory:
    """Creates uniquely named databases on one backend and drops them all at the end."""

    def __init__(self, backend: Dialect, server_url: str, workdir: Path) -> None:
        self.backend = backend
        self.server_url = server_url
        self.workdir = workdir
        self.created: list[str] = []

    async def create(self, prefix: str = "rawrepo_test") -> str:
        """A new empty database; returns its URL in the application's form."""
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        server = parse_url(self.server_url)
        if self.backend == "sqlite":
            path = self.workdir / f"{name}.db"
            self.created.append(str(path))
            return f"sqlite+aiosqlite:///{path}"
        driver = load_driver(server)
        await driver.create_database(name)
        self.created.append(name)
        return server.with_database(name).render(mask=False)

    async def drop_all(self) -> None:
        server = parse_url(self.server_url)
        driver = load_driver(server)
        for name in reversed(self.created):
            with contextlib.suppress(Exception):
                await driver.drop_database(name)
        self.created.clear()


@pytest.fixture(scope="session")
def _rawrepo_containers() -> Iterator[_Containers]:
    containers = _Containers()
    yield containers
    containers.stop()


class _Poolers:
    """The pgbouncer of the ``postgresql+pgbouncer`` target, started on first use."""

    def __init__(self) -> None:
        self.bouncer: Any = None
        self.failure: str | None = None

    def url(self, server_url: str) -> str:
        from rawrepo.pgbouncer import PgBouncer, PgBouncerUnavailable

        if self.bouncer is None and self.failure is None:
            bouncer = PgBouncer(server_url)
            try:
                bouncer.start()
            except PgBouncerUnavailable as exc:
                self.failure = str(exc)
            else:
                self.bouncer = bouncer
        if self.failure is not None:
            reason = f"the {PGBOUNCER_TARGET} target needs pgbouncer: {self.failure}"
            if required_backends() & {"pgbouncer", PGBOUNCER_TARGET}:
                pytest.fail(f"RAWREPO_TEST_REQUIRE names pgbouncer, but {reason}", pytrace=False)
            pytest.skip(reason)
        # The documented pgbouncer URL: asyncpg's statement cache off (see docs/scaling.md).
        return str(self.bouncer.url(statement_cache_size="0"))

    def stop(self) -> None:
        if self.bouncer is not None:
            self.bouncer.stop()
            self.bouncer = None


@pytest.fixture(scope="session")
def _rawrepo_poolers() -> Iterator[_Poolers]:
    poolers = _Poolers()
    yield poolers
    poolers.stop()


@pytest.fixture(scope="session")
def _rawrepo_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rawrepo-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def rawrepo_target(request: pytest.FixtureRequest) -> str:
    """Each configured target in turn (``sqlite``, ``postgresql``, ``mysql``, ...)."""
    target: str = request.param
    return target


@pytest.fixture(scope="session")
def rawrepo_backend(rawrepo_target: str) -> Dialect:
    """The current target's dialect: sqlite, postgresql or mysql."""
    return target_dialect(rawrepo_target)


@pytest.fixture(scope="session")
def rawrepo_server_url(
    rawrepo_target: str,
    rawrepo_backend: Dialect,
    _rawrepo_containers: _Containers,
    _rawrepo_poolers: _Poolers,
    _rawrepo_workdir: Path,
) -> str:
    """A URL of the backend's server, in the target driver's scheme (SQLite: a scratch
    folder; ``postgresql+pgbouncer``: the server through pgbouncer)."""
    if rawrepo_backend == "sqlite":
        return f"sqlite+aiosqlite:///{_rawrepo_workdir / 'server.db'}"
    server = backend_server_url(rawrepo_backend, _rawrepo_containers)
    if rawrepo_target == PGBOUNCER_TARGET:
        return _rawrepo_poolers.url(server)
    return target_url(server, rawrepo_target)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rawrepo_databases(
    rawrepo_backend: Dialect, rawrepo_server_url: str, _rawrepo_workdir: Path
) -> AsyncIterator[DatabaseFactory]:
    """Make fresh databases on the current backend: ``url = await factory.create()``."""
    factory = DatabaseFactory(rawrepo_backend, rawrepo_server_url, _rawrepo_workdir)
    yield factory
    await factory.drop_all()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def empty_database_url(rawrepo_databases: DatabaseFactory) -> str:
    """A fresh, empty database on the current backend (one per test session)."""
    return await rawrepo_databases.create()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_database_url(rawrepo_databases: DatabaseFactory) -> str:
    """A fresh database with rawrepo's bundled migrations applied."""
    from rawrepo import migrate

    url = await rawrepo_databases.create()
    await asyncio.to_thread(migrate.apply, url)
    return url


@pytest_asyncio.fixture(loop_scope="session")
async def rawrepo_db(migrated_database_url: str) -> AsyncIterator[Database]:
    """A connected Database on the migrated test database, disconnected afterwards."""
    db = Database(migrated_database_url)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()
