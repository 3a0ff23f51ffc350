"""pytest plugin: real-database fixtures for rawrepo and for projects built on it.

Enable it with ``pytest_plugins = ["rawrepo.testing"]`` in a ``conftest.py``.

Where each backend's server comes from, in this order:

1. ``RAWREPO_TEST_POSTGRESQL_URL`` / ``RAWREPO_TEST_MYSQL_URL``: a server URL whose
   user may create and drop databases (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. without one, and with Docker answering, testcontainers starts a container from
   ``RAWREPO_TEST_POSTGRESQL_IMAGE`` (default ``postgres:15``) /
   ``RAWREPO_TEST_MYSQL_IMAGE`` (default ``mariadb:10.11``), once per test session, and
   waits until rawrepo's own driver connects to it (at most
   ``RAWREPO_TEST_CONTAINER_TIMEOUT`` seconds, default 120). Any image that keeps the
   official postgres / mariadb (or mysql) image's contract works: the plugin sets
   ``POSTGRES_PASSWORD`` (``POSTGRES_USER`` and ``POSTGRES_DB`` ``postgres``), or
   ``MARIADB_ROOT_PASSWORD`` and ``MYSQL_ROOT_PASSWORD``, to a random password. The tests
   connect to the Docker host as testcontainers finds it (``TC_HOST`` overrides it; set
   ``TC_HOST=127.0.0.1`` where the daemon runs in the same container as the tests): on a
   loopback address the ports are published on 127.0.0.1 only, else on every interface of
   that host. The containers are
   removed at the end of the session (set ``TESTCONTAINERS_RYUK_DISABLED=true`` where
   testcontainers' ryuk image cannot be pulled); they carry the labels
   ``rawrepo.testing.backend`` and ``rawrepo.testing.run`` (``RAWREPO_TEST_RUN_ID``, else
   the pytest process id), so a wrapper script can find and remove them if pytest is killed.
   The terminal summary names each container started (id, image, address, server version);
3. otherwise that backend's tests skip with one reason that says what failed and how to fix
   it (no Docker; or Docker answering but the container not starting: image missing and
   not pullable, ryuk not startable, the container exiting, a port in use, the server not
   ready in time). The failure is remembered for the
   session: a backend is tried once, not once per test. Where
   ``RAWREPO_TEST_REQUIRE=postgresql,mysql`` names the backend, the first test that needs it
   fails with that reason instead and the backend's other tests skip, pointing at it.

SQLite needs nothing. Each test session creates uniquely named databases and drops them at
the end. A test marked ``@pytest.mark.rawrepo_backends("postgresql", "mysql")`` runs only on
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
- ``rawrepo_server_url``: the backend's server URL in the target's scheme (session);
- ``rawrepo_databases``: a :class:`DatabaseFactory` for that backend (session);
- ``empty_database_url``: a fresh empty database (session, one per backend);
- ``rawrepo_migrations_dir``: the migrations ``migrated_database_url`` applies (session);
  the ``rawrepo_migrations_dir`` ini option, else rawrepo's bundled users/tasks migrations;
- ``rawrepo_sql_dir``: folders of your own queries for ``rawrepo_db`` (session); the
  ``rawrepo_sql_dir`` ini option, else none (the bundled queries only);
- ``migrated_database_url``: a fresh database with those migrations applied (session);
- ``rawrepo_db``: a connected :class:`~rawrepo.Database` on ``migrated_database_url``
  with ``rawrepo_sql_dir``;
- ``rawrepo_session``: a :class:`~rawrepo.database.Session` on ``rawrepo_db`` whose
  transaction is rolled back at the end of the test, so tests do not see each other's writes.

A project with its own schema and queries points the plugin at them, in ``pytest.ini`` /
``pyproject.toml``::

    [tool.pytest.ini_options]
    rawrepo_migrations_dir = "migrations"   # holds postgresql/, mysql/, sqlite/
    rawrepo_sql_dir = ["sql"]

or by overriding the two fixtures in its ``conftest.py``::

    pytest_plugins = ["rawrepo.testing"]

    @pytest.fixture(scope="session")
    def rawrepo_migrations_dir() -> Path:
        return Path(__file__).parent / "migrations"

    @pytest.fixture(scope="session")
    def rawrepo_sql_dir() -> list[Path]:
        return [Path(__file__).parent / "sql"]

and writes tests on ``rawrepo_session`` (each runs on every backend, inside a transaction
that is rolled back at its end)::

    async def test_add_note(rawrepo_session: Session) -> None:
        await rawrepo_session.execute("notes.add", id=1, body="hello")
        assert await rawrepo_session.fetch_value("notes.count") == 1

Code under test must use that session (rawrepo's services and repositories take the session
as an argument) for the rollback to cover it; code that opens its own sessions commits, so
give such tests a database of their own (``await rawrepo_databases.create_migrated(...)``).
On PostgreSQL a failed statement aborts the transaction: wrap a statement that is meant to
fail in ``async with rawrepo_session.savepoint():``. MySQL commits DDL at once, so
``CREATE``/``ALTER`` inside a test are not rolled back there. On SQLite the session holds the
database's write lock for the whole test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import pytest_asyncio

from rawrepo.config import Dialect, parse_url
from rawrepo.database import Database, Session
from rawrepo.drivers.base import load_driver
from rawrepo.errors import RawRepoError

__all__ = [
    "BACKENDS",
    "DEFAULT_IMAGES",
    "PGBOUNCER_TARGET",
    "DatabaseFactory",
    "backend_server_url",
    "configured_targets",
    "container_image",
    "required_backends",
    "target_dialect",
    "target_url",
]

BACKENDS: tuple[Dialect, ...] = ("sqlite", "postgresql", "mysql")
_TARGETS_ENV = "RAWREPO_TEST_BACKENDS"
_INI = "rawrepo_backends"
_INI_MIGRATIONS = "rawrepo_migrations_dir"
_INI_SQL = "rawrepo_sql_dir"

#: The image each server backend's container starts from unless RAWREPO_TEST_*_IMAGE says
#: otherwise: official Docker Hub tags of the major versions CI tests rawrepo on.
DEFAULT_IMAGES: dict[str, str] = {"postgresql": "postgres:15", "mysql": "mariadb:10.11"}
_URL_ENV = {"postgresql": "RAWREPO_TEST_POSTGRESQL_URL", "mysql": "RAWREPO_TEST_MYSQL_URL"}
_IMAGE_ENV = {"postgresql": "RAWREPO_TEST_POSTGRESQL_IMAGE", "mysql": "RAWREPO_TEST_MYSQL_IMAGE"}
_URL_EXAMPLE = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql://root@127.0.0.1:3306/mysql",
}
_PORT = {"postgresql": 5432, "mysql": 3306}
_TIMEOUT_ENV = "RAWREPO_TEST_CONTAINER_TIMEOUT"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


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


def container_image(backend: str) -> str:
    """The image testcontainers starts for ``backend`` ("postgresql" or "mysql"): its
    ``RAWREPO_TEST_POSTGRESQL_IMAGE`` / ``RAWREPO_TEST_MYSQL_IMAGE``, else
    :data:`DEFAULT_IMAGES`."""
    return os.environ.get(_IMAGE_ENV[backend]) or DEFAULT_IMAGES[backend]


def required_backends() -> set[str]:
    """Backends named in ``RAWREPO_TEST_REQUIRE`` (a missing one fails the run)."""
    raw = os.environ.get("RAWREPO_TEST_REQUIRE", "")
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        "backends (and drivers) to run each database test on, e.g."
        " 'sqlite postgresql mysql mysql+asyncmy'",
        type="args",
        default=list(BACKENDS),
    )
    parser.addini(
        _INI_MIGRATIONS,
        "migrations folder (one subfolder per dialect) that migrated_database_url applies;"
        " default: rawrepo's bundled migrations",
        type="paths",
        default=[],
    )
    parser.addini(
        _INI_SQL,
        "folders of your own queries that rawrepo_db loads after the bundled ones",
        type="paths",
        default=[],
    )


_CONTAINERS_KEY = pytest.StashKey["_Containers"]()
_PREVIOUS_KEY = pytest.StashKey["_Containers | None"]()
# The running session's containers, for callers of backend_server_url() that pass none.
_active: _Containers | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _active
    config.addinivalue_line(
        "markers", "rawrepo_backends(*names): run this test only on these dialects or targets"
    )
    containers = _Containers()
    config.stash[_CONTAINERS_KEY] = containers
    config.stash[_PREVIOUS_KEY] = _active  # a pytester run inside a session restores it
    _active = containers


def pytest_unconfigure(config: pytest.Config) -> None:
    global _active
    containers = config.stash.get(_CONTAINERS_KEY, None)
    if containers is not None:
        containers.stop()  # a safety net: the session fixture stops them first
        _active = config.stash.get(_PREVIOUS_KEY, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rawrepo_target" not in metafunc.fixturenames:
        return
    targets = configured_targets(metafunc.config)
    marker = metafunc.definition.get_closest_marker("rawrepo_backends")
    if marker is not None:
        wanted = set(marker.args)
        targets = [t for t in targets if t in wanted or target_dialect(t) in wanted]
    metafunc.parametrize("rawrepo_target", targets, indirect=True, scope="session")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Find the server before pytest sets up the fixtures: a session fixture that failed is
    # re-raised by pytest for every test using it, which would turn one missing server
    # into an error per test under RAWREPO_TEST_REQUIRE.
    containers = item.config.stash[_CONTAINERS_KEY]
    containers.current_test = item.nodeid
    callspec = getattr(item, "callspec", None)
    if callspec is None or "rawrepo_server_url" not in getattr(item, "fixturenames", ()):
        return
    target = callspec.params.get("rawrepo_target")
    if isinstance(target, str) and target_dialect(target) != "sqlite":
        backend_server_url(target_dialect(target), containers)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    containers = config.stash.get(_CONTAINERS_KEY, None)
    lines = containers.summary() if containers is not None else []
    if lines:
        terminalreporter.ensure_newline()
        terminalreporter.section("rawrepo test containers", sep="-")
        for line in lines:
            terminalreporter.write_line(line)


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
        return True
    except Exception:
        return False


def _image_here(image: str) -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            client.images.get(image)
        finally:
            client.close()
        return True
    except Exception:
        return False


class _Unavailable(Exception):
    """A backend's server cannot be had; the message says why and what to do."""


@dataclass
class _Started:
    container: Any  # testcontainers' DockerContainer
    url: str  # with the session's password: never printed


class _Containers:
    """Servers started with testcontainers for one test session, at most one per backend.

    A backend that could not be started is remembered with its reason, so it is tried once
    per session (``mysql`` and ``mysql+asyncmy`` share one server and one attempt).
    """

    def __init__(self) -> None:
        self.started: dict[str, _Started] = {}
        self.failures: dict[str, str] = {}
        self.reported: dict[str, str] = {}  # required backend -> the test that failed on it
        self.log: list[str] = []  # one line per container started, kept after they stop
        self.current_test = "an earlier test"  # the node id of the test being set up
        self._docker: bool | None = None
        self._password = secrets.token_hex(16)

    def docker_answers(self) -> bool:
        if self._docker is None:
            self._docker = _docker_answers()
        return self._docker

    def url(self, backend: str) -> str:
        """The URL of ``backend``'s container, started on first use; raises
        :class:`_Unavailable` (every time, after one attempt) if it cannot start."""
        if backend in self.started:
            return self.started[backend].url
        if backend in self.failures:
            raise _Unavailable(self.failures[backend])
        image = container_image(backend)
        try:
            self.started[backend] = self._start(backend, image)
        except Exception as exc:
            what, fix = _explain(exc, backend, image)
            self.failures[backend] = self._scrub(
                f"{backend} tests need a server: Docker answers but its container did not"
                f" start from image {image!r} ({_IMAGE_ENV[backend]}): {what}. Fix: {fix},"
                f" or set {_URL_ENV[backend]} to a server (e.g. {_URL_EXAMPLE[backend]})"
            )
            raise _Unavailable(self.failures[backend]) from None
        return self.started[backend].url

    def _start(self, backend: str, image: str) -> _Started:
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer, Reaper

        begun = time.monotonic()
        raw = os.environ.get(_TIMEOUT_ENV) or "120"
        try:
            timeout = float(raw)
        except ValueError:
            raise _StartError(
                f"{_TIMEOUT_ENV} must be a number of seconds, got {raw!r}",
                f"correct {_TIMEOUT_ENV}",
            ) from None
        if not testcontainers_config.ryuk_disabled:  # what container.start() does first
            try:
                Reaper.get_instance()
            except Exception as exc:
                fix = (
                    "set TESTCONTAINERS_RYUK_DISABLED=true (the plugin removes its containers"
                    " itself)"
                )
                if not _image_here(image):  # say now what the next attempt would meet
                    fix += (
                        f"; {image} is not on this machine either: docker pull {image}, or set"
                        f" {_IMAGE_ENV[backend]} to an image this Docker has"
                    )
                raise _StartError(
                    f"testcontainers could not start its cleanup container"
                    f" {testcontainers_config.ryuk_image} ({_explain(exc, backend, image)[0]})",
                    fix,
                ) from exc
        port = _PORT[backend]
        if backend == "postgresql":
            env = {
                "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD": self._password,
                "POSTGRES_DB": "postgres",
            }
        else:  # the mariadb image reads MARIADB_*, the mysql image MYSQL_*
            env = {"MARIADB_ROOT_PASSWORD": self._password, "MYSQL_ROOT_PASSWORD": self._password}
        container = DockerContainer(
            image,
            env=env,
            labels={
                "rawrepo.testing.backend": backend,
                "rawrepo.testing.run": os.environ.get("RAWREPO_TEST_RUN_ID") or str(os.getpid()),
            },
        )
        host = container.get_docker_client().host()
        published: dict[str, Any] = container.ports  # docker-py's (host ip,) binding form
        if host in _LOOPBACK:
            host = "127.0.0.1"  # not "localhost": it may resolve to ::1 first
            published[f"{port}/tcp"] = ("127.0.0.1",)
        else:
            published[f"{port}/tcp"] = None
        try:
            container.start()
            wrapped = container.get_wrapped_container()
            mapped = _mapped_port(wrapped, port)
            user = "postgres" if backend == "postgresql" else "root"
            database = "postgres" if backend == "postgresql" else "mysql"
            url = f"{backend}://{user}:{self._password}@{host}:{mapped}/{database}"
            version = self._wait_ready(wrapped, url, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                container.stop()
            raise
        self.log.append(
            f"{backend}: container {str(wrapped.id)[:12]} from {image} on {host}:{mapped}"
            f" ({version}), ready in {time.monotonic() - begun:.1f} s"
        )
        return _Started(container=container, url=url)

    def _wait_ready(self, wrapped: Any, url: str, timeout: float) -> str:
        """Poll until rawrepo's driver connects and pings (the same check for every image);
        the server's version. Fails early if the container exits."""
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while True:
            _raise_if_exited(wrapped)
            remaining = deadline - time.monotonic()
            try:
                return _probe(url, max(1.0, min(5.0, remaining)))
            except RawRepoError as exc:
                last = str(exc)
            if remaining <= 0:
                raise _StartError(
                    f"the server in container {str(wrapped.id)[:12]} did not accept a"
                    f" connection within {timeout:g} s ({_TIMEOUT_ENV}); last error: {last}",
                    f"raise {_TIMEOUT_ENV} on a slow machine, and set TC_HOST to the address"
                    " where this Docker publishes ports if it is not this machine's",
                )
            time.sleep(0.5)

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***")

    def summary(self) -> list[str]:
        """One line per container started (and per backend that failed), for the report."""
        failed = [f"{backend}: {reason}" for backend, reason in self.failures.items()]
        return self.log + failed

    def stop(self) -> None:
        for started in self.started.values():
            with contextlib.suppress(Exception):
                started.container.stop()
        self.started.clear()


class _StartError(Exception):
    """A container step failed: ``what`` happened and the ``fix`` to suggest."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix


def _raise_if_exited(wrapped: Any) -> None:
    wrapped.reload()
    if wrapped.status in ("exited", "dead"):
        code = wrapped.attrs.get("State", {}).get("ExitCode")
        lines = wrapped.logs(tail=8).decode(errors="replace").splitlines()
        logs = " | ".join(line.strip() for line in lines if line.strip())
        raise _StartError(
            f"the container exited with code {code}; its last lines: {logs}",
            "use an image that keeps the official image's contract (its entrypoint honours"
            " POSTGRES_PASSWORD, or MARIADB_ROOT_PASSWORD / MYSQL_ROOT_PASSWORD)",
        )


def _mapped_port(wrapped: Any, port: int) -> int:
    _raise_if_exited(wrapped)
    bindings = (wrapped.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp")
    if not bindings:
        raise _StartError(
            f"Docker published no host port for the container's port {port}",
            f"use an image whose server listens on port {port}",
        )
    return int(bindings[0]["HostPort"])


def _probe(url: str, timeout: float) -> str:
    """Connect with rawrepo's driver for ``url``, ping, and return the server version (in a
    thread of its own, so it works whether or not an event loop runs here)."""

    async def probe() -> str:
        conn = await load_driver(parse_url(url)).connect(timeout)
        try:
            await conn.ping()
            return await conn.server_version()
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, probe()).result()


def _explain(exc: BaseException, backend: str, image: str) -> tuple[str, str]:
    """What went wrong, and how to fix it, in words a user can act on."""
    if isinstance(exc, _StartError):
        return exc.what, exc.fix
    # docker-py's APIError: the daemon's own words, without the HTTP request around them
    text = " ".join(str(getattr(exc, "explanation", None) or exc).split()) or type(exc).__name__
    if isinstance(exc, ImportError):
        return f"testcontainers is not installed ({text})", "pip install 'rawrepo[test]'"
    if "address already in use" in text or "port is already allocated" in text:
        return f"a port it needs is in use ({text})", "free the port"
    from docker.errors import ImageNotFound, NotFound

    if isinstance(exc, ImageNotFound | NotFound) or "pull" in text or "registry" in text:
        return (
            f"the image is not on this machine and pulling it failed ({text})",
            f"make the image available (docker pull {image}), or set {_IMAGE_ENV[backend]}"
            " to an image this Docker has",
        )
    return text, f"check that Docker can run {image}"


def backend_server_url(backend: str, containers: _Containers | None = None) -> str:
    """The server URL for ``backend`` ("postgresql" or "mysql"): its
    ``RAWREPO_TEST_*_URL``, else a container the current test session starts (or
    ``containers``), else skip (or fail, per ``RAWREPO_TEST_REQUIRE``) with a reason."""
    url = os.environ.get(_URL_ENV[backend])
    if url:
        return url
    containers = containers if containers is not None else _active
    if containers is not None and containers.docker_answers():
        try:
            return containers.url(backend)
        except _Unavailable as exc:
            reason = str(exc)
    else:
        reason = (
            f"{backend} tests need a server: set {_URL_ENV[backend]} (e.g."
            f" {_URL_EXAMPLE[backend]}) or run Docker so testcontainers can start"
            f" {container_image(backend)} ({_IMAGE_ENV[backend]})"
        )
    _unavailable(containers, backend, reason)


def _unavailable(containers: _Containers | None, backend: str, reason: str) -> NoReturn:
    """Skip with ``reason``; under RAWREPO_TEST_REQUIRE fail the first test that needs the
    backend and skip the rest with a pointer to that failure (one error, not one per test)."""
    if backend not in required_backends():
        pytest.skip(reason)
    if containers is None or backend not in containers.reported:
        if containers is not None:
            containers.reported[backend] = containers.current_test
        pytest.fail(f"RAWREPO_TEST_REQUIRE names {backend}, but {reason}", pytrace=False)
    pytest.skip(
        f"{backend} is unavailable and RAWREPO_TEST_REQUIRE names it: the run failed once on it,"
        f" in {containers.reported[backend]}"
    )


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

    async def create_migrated(
        self, migrations_dir: str | Path | None = None, prefix: str = "rawrepo_test"
    ) -> str:
        """A new database with the migrations of ``migrations_dir`` applied (its
        ``<dialect>/`` subfolder; ``None``: rawrepo's bundled ones); returns its URL."""
        from rawrepo import migrate

        url = await self.create(prefix)
        if migrations_dir is None:
            await asyncio.to_thread(migrate.apply, url, bundled=True)
        else:
            await asyncio.to_thread(migrate.apply, url, migrations_dir=migrations_dir)
        return url

    async def drop_all(self) -> None:
        server = parse_url(self.server_url)
        driver = load_driver(server)
        for name in reversed(self.created):
            with contextlib.suppress(Exception):
                await driver.drop_database(name)
        self.created.clear()


@pytest.fixture(scope="session")
def _rawrepo_containers(pytestconfig: pytest.Config) -> Iterator[_Containers]:
    containers = pytestconfig.stash[_CONTAINERS_KEY]
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


@pytest.fixture(scope="session")
def rawrepo_migrations_dir(pytestconfig: pytest.Config) -> Path | None:
    """The migrations folder ``migrated_database_url`` applies (with one subfolder per
    dialect): the ``rawrepo_migrations_dir`` ini option, else ``None``, rawrepo's bundled
    users/tasks migrations. Override this fixture to use another folder."""
    paths: list[Path] = pytestconfig.getini(_INI_MIGRATIONS)
    if len(paths) > 1:
        raise pytest.UsageError(f"the {_INI_MIGRATIONS} ini option takes one folder, got {paths}")
    return paths[0] if paths else None


@pytest.fixture(scope="session")
def rawrepo_sql_dir(pytestconfig: pytest.Config) -> Sequence[str | Path]:
    """Folders of your own queries that ``rawrepo_db`` loads after the bundled ones: the
    ``rawrepo_sql_dir`` ini option, else none. Override this fixture to choose others."""
    paths: list[Path] = pytestconfig.getini(_INI_SQL)
    return paths


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_database_url(
    rawrepo_databases: DatabaseFactory, rawrepo_migrations_dir: str | Path | None
) -> str:
    """A fresh database with ``rawrepo_migrations_dir``'s migrations applied (one per
    backend and session)."""
    return await rawrepo_databases.create_migrated(rawrepo_migrations_dir)


@pytest_asyncio.fixture(loop_scope="session")
async def rawrepo_db(
    migrated_database_url: str, rawrepo_sql_dir: Sequence[str | Path]
) -> AsyncIterator[Database]:
    """A connected Database on the migrated test database (with ``rawrepo_sql_dir``'s
    queries), disconnected afterwards."""
    db = Database(migrated_database_url, sql_dir=list(rawrepo_sql_dir))
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


class _RollBack(Exception):
    """Raised into ``rawrepo_session``'s session at the end of the test to roll it back."""


@pytest_asyncio.fixture(loop_scope="session")
async def rawrepo_session(rawrepo_db: Database) -> AsyncIterator[Session]:
    """A session on ``rawrepo_db`` inside a transaction, begun at once and rolled back at
    the end of the test (whatever the test did), so no test sees another test's writes.
    Savepoints nest inside it. See the module docstring for what it cannot undo."""
    with contextlib.suppress(_RollBack):
        async with rawrepo_db.create_session() as session:
            await session.begin()
            yield session
            raise _RollBack
