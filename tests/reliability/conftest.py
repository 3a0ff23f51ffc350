"""Fixtures of the reliability suite: throwaway servers that tests may crash, and
Databases on them.

``fault_server`` is the current backend's :class:`~tests.reliability.servers.ThrowawayServer`
(started once per test session, running again before each test). A server that
cannot be set up skips its tests with the reason, or fails them when
``RAWREPO_TEST_REQUIRE`` names the backend (as in CI).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from rawrepo import Database
from rawrepo.testing import DatabaseFactory, required_backends

from .servers import SERVERS, SQL_DIR, ServerUnavailable, ThrowawayServer

MakeDatabase = Callable[..., Awaitable[Database]]


class _Registry:
    """The throwaway servers of this test session, set up on first use."""

    def __init__(self) -> None:
        self.servers: dict[str, ThrowawayServer] = {}
        self.failures: dict[str, str] = {}
        self.startup_s: dict[str, float] = {}

    def get(self, backend: str) -> ThrowawayServer:
        if backend in self.failures:
            self._unavailable(backend, self.failures[backend])
        server = self.servers.get(backend)
        if server is None:
            started = time.monotonic()
            try:
                server = SERVERS[backend]()
                self.servers[backend] = server
                server.setup()
            except (ServerUnavailable, OSError, KeyError) as exc:
                self.failures[backend] = str(exc)
                self._unavailable(backend, str(exc))
            self.startup_s[backend] = time.monotonic() - started
        if not server.running:
            server.start()
        return server

    @staticmethod
    def _unavailable(backend: str, reason: str) -> None:
        text = f"cannot start a throwaway {backend} server for the fault tests: {reason}"
        if backend in required_backends():
            pytest.fail(f"RAWREPO_TEST_REQUIRE names {backend}, but {text}", pytrace=False)
        pytest.skip(text)

    def destroy(self) -> None:
        for server in self.servers.values():
            server.destroy()
        self.servers.clear()


@pytest.fixture(scope="session")
def throwaway_servers() -> Iterator[_Registry]:
    """Every throwaway server started in this session; all are stopped and deleted at the end."""
    registry = _Registry()
    yield registry
    registry.destroy()


@pytest.fixture
def fault_server(
    rawrepo_backend: str, rawrepo_target: str, throwaway_servers: _Registry
) -> ThrowawayServer:
    """The current backend's throwaway server, running, its URLs in the target's scheme."""
    server = throwaway_servers.get(rawrepo_backend)
    server.scheme = rawrepo_target
    return server


@pytest_asyncio.fixture(loop_scope="session")
async def fault_db(fault_server: ThrowawayServer) -> AsyncIterator[MakeDatabase]:
    """``db = await fault_db(pool_size=2, ...)``: a Database on a fresh database of the
    throwaway server, with the ``rel_notes`` table, attached to the server's faults;
    all are disconnected afterwards."""
    made: list[Database] = []
    url = await fault_server.create_database()
    async with Database(url, sql_dir=SQL_DIR) as setup, setup.session() as session:
        await session.execute("rel.create_notes")

    async def make(**settings: Any) -> Database:
        connect_timeout = settings.pop("connect_timeout", 2.0)
        db = Database(url, sql_dir=SQL_DIR, connect_timeout=connect_timeout, **settings)
        fault_server.attach(db)
        made.append(db)
        await db.connect()
        return db

    yield make
    for db in made:
        await db.disconnect()


@pytest_asyncio.fixture(loop_scope="session")
async def notes_db(rawrepo_databases: DatabaseFactory) -> AsyncIterator[MakeDatabase]:
    """``db = await notes_db(pool_size=2, ...)``: Databases on one fresh database of the
    shared test server (never stopped), with the ``rel_notes`` table; all are
    disconnected afterwards."""
    made: list[Database] = []
    url = await rawrepo_databases.create("rel")
    async with Database(url, sql_dir=SQL_DIR) as setup, setup.session() as session:
        await session.execute("rel.create_notes")

    async def make(**settings: Any) -> Database:
        db = Database(url, sql_dir=SQL_DIR, **settings)
        made.append(db)
        await db.connect()
        return db

    yield make
    for db in made:
        await db.disconnect()
