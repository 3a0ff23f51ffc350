"""Fixtures of the reliability suite: throwaway servers that tests may crash, and
Databases on them.

``fault_server`` is the current backend's :class:`~tests.reliability.servers.ThrowawayServer`
(started once per test session, running again before each test). A server that
cannot be set up skips its tests with the reason, or fails them when
``RAWREPO_TEST_REQUIRE`` names the backend (as in CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from rawrepo import Database
from rawrepo.testing import DatabaseFactory

from .registry import Registry
from .servers import SERVERS, SQL_DIR, ThrowawayServer

MakeDatabase = Callable[..., Awaitable[Database]]


@pytest.fixture(scope="session")
def throwaway_servers() -> Iterator[Registry[ThrowawayServer]]:
    """Every throwaway server started in this session; all are stopped and deleted at the end."""
    registry: Registry[ThrowawayServer] = Registry(
        SERVERS, "a throwaway server for the fault tests"
    )
    yield registry
    registry.destroy()


@pytest.fixture
def fault_server(
    rawrepo_backend: str, rawrepo_target: str, throwaway_servers: Registry[ThrowawayServer]
) -> ThrowawayServer:
    """The current backend's throwaway server, running, its URLs in the target's scheme."""
    server = throwaway_servers.get(rawrepo_backend)
    if not server.running:
        server.start()
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
