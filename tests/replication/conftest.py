"""Fixtures of the replication suite: a throwaway primary with streaming replicas per
backend (see ``servers.py``), and Databases on a fresh database of it.

The topology of a backend is started once per test session; a test that changes it
(a delay, a stopped replica) puts it back in its teardown. A topology that cannot be
set up skips its tests with the reason, or fails them when ``RAWREPO_TEST_REQUIRE``
names the backend (as in CI).

Every test that waits for a replica notes how long the replica took to apply a
commit (``lag_log``); the terminal summary reports those numbers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from rawrepo import Database
from tests.reliability.registry import Registry

from .servers import SQL_DIR, TOPOLOGIES, Topology

MakeDatabase = Callable[..., Awaitable[Database]]
LagLog = Callable[[float], None]

_LAG: dict[str, list[float]] = {}


@pytest.fixture(scope="session")
def replicated_servers() -> Iterator[Registry[Topology]]:
    """Each backend's primary and replicas, started on first use, deleted at the end."""
    registry: Registry[Topology] = Registry(TOPOLOGIES, "a throwaway replicated set")
    yield registry
    registry.destroy()


_DATABASES: dict[str, str] = {}  # the test database of each backend's topology


@pytest.fixture
def topology(
    rawrepo_backend: str, rawrepo_target: str, replicated_servers: Registry[Topology]
) -> Topology:
    """The current backend's primary and replicas, their URLs in the target's scheme."""
    found = replicated_servers.get(rawrepo_backend)
    found.scheme = rawrepo_target
    return found


@pytest_asyncio.fixture(loop_scope="session")
async def repl_database(topology: Topology) -> str:
    """A database with an empty ``repl_notes`` table on the primary, and so on every
    replica (one per backend and test session: creating one costs a second or two)."""
    name = _DATABASES.get(topology.backend)
    if name is None:
        name = _DATABASES[topology.backend] = await topology.create_database()
    else:
        async with (
            Database(topology.primary_url(name), sql_dir=SQL_DIR) as db,
            db.session() as session,
        ):
            await session.execute("repl.clear_notes")
        await topology.wait_for_replicas(name)
    return name


@pytest_asyncio.fixture(loop_scope="session")
async def repl_db(topology: Topology, repl_database: str) -> AsyncIterator[MakeDatabase]:
    """``db = await repl_db(replica_wait=2, ...)``: a connected Database on the fresh
    database with every replica of the topology (``replicas=[0]`` picks some);
    all are disconnected afterwards."""
    made: list[Database] = []

    async def make(replicas: list[int] | None = None, **settings: Any) -> Database:
        urls = topology.replica_urls(repl_database)
        if replicas is not None:
            urls = [urls[i] for i in replicas]
        settings.setdefault("connect_timeout", 2.0)
        db = Database(
            topology.primary_url(repl_database), sql_dir=SQL_DIR, replica_urls=urls, **settings
        )
        made.append(db)
        await db.connect()
        return db

    yield make
    for db in made:
        await db.disconnect()


@pytest_asyncio.fixture(loop_scope="session")
async def restore(topology: Topology) -> AsyncIterator[Topology]:
    """The topology, put back afterwards: no delay, every replica running and applying."""
    yield topology
    for index, replica in enumerate(topology.replicas):
        if not replica.running:
            await topology.start_replica(index)
        await topology.set_delay(index, 0)
        await topology.resume(index)


@pytest.fixture
def lag_log(rawrepo_backend: str) -> LagLog:
    """``lag_log(seconds)``: note how long a replica took to apply a commit."""
    return _LAG.setdefault(rawrepo_backend, []).append


class CatchUp:
    """Open connections to replicas, to time how long each takes to apply a commit."""

    def __init__(self, db: Database, replica_urls: list[str]) -> None:
        assert db.replicas is not None
        self.ops = db.replicas.ops
        self.dbs = [Database(url, sql_dir=SQL_DIR, pool_size=1) for url in replica_urls]

    async def __aenter__(self) -> CatchUp:
        self.sessions = [await db.session().__aenter__() for db in self.dbs]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for db in self.dbs:
            await db.disconnect()

    async def seconds(self, token: str, committed_at: float) -> list[float]:
        """For each replica: seconds from ``committed_at`` (perf_counter) until it has
        applied ``token``."""
        out = []
        for session in self.sessions:
            assert await self.ops.reached(session.connection, token, 10.0)
            out.append(time.perf_counter() - committed_at)
        return out


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for backend, values in sorted(_LAG.items()):
        if not values:
            continue
        ms = sorted(v * 1000 for v in values)
        terminalreporter.write_line(
            f"replica apply lag after a commit ({backend}, {len(ms)} commits):"
            f" median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms"
        )
