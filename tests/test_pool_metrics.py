"""Pool metrics (rawrepo/pool.py ``Pool.metrics``, ``Database.pool_metrics()`` and
``health_check()``): size, in use, idle, waiting, acquisitions, timeouts and
connections replaced, on every backend."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import pytest

from rawrepo import Database, PoolMetrics, PoolTimeoutError
from tests.test_pool import KILLERS, make_db, prepare_server_kill

__all__ = ["make_db"]  # the fixture, shared with the pool tests


async def test_gauges_and_counters_follow_the_sessions(make_db: Callable[..., Database]) -> None:
    db = make_db(pool_size=2, max_overflow=1)
    assert db.pool_metrics() == PoolMetrics(
        size=0, max_size=3, in_use=0, idle=0, waiting=0, acquisitions=0, timeouts=0, replaced=0
    )
    async with AsyncExitStack() as stack:
        for _ in range(3):
            session = await stack.enter_async_context(db.session())
            await session.fetch_value("core.select_one")
        assert db.pool_metrics() == PoolMetrics(3, 3, 3, 0, 0, 3, 0, 0)
    # the overflow connection is closed on release, the others wait idle
    assert db.pool_metrics() == PoolMetrics(2, 3, 0, 2, 0, 3, 0, 0)
    async with db.session() as session:
        await session.fetch_value("core.select_one")
        assert db.pool_metrics() == PoolMetrics(2, 3, 1, 1, 0, 4, 0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        db.pool_metrics().size = 9  # type: ignore[misc]


async def test_waiting_callers_and_a_timeout_are_counted(make_db: Callable[..., Database]) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=0.3)
    async with db.session() as holder:
        await holder.fetch_value("core.select_one")

        async def wait_for_one() -> None:
            async with db.session():
                pass

        waiter = asyncio.create_task(wait_for_one())
        for _ in range(1000):  # until the waiter has queued (a few loop turns)
            if db.pool_metrics().waiting:
                break
            await asyncio.sleep(0)
        assert db.pool_metrics().waiting == 1
        with pytest.raises(PoolTimeoutError):
            await waiter
        metrics = db.pool_metrics()
        assert (metrics.waiting, metrics.timeouts, metrics.in_use) == (0, 1, 1)
    status = await db.health_check()
    assert status.healthy
    assert (status.timeouts, status.waiting, status.max_size) == (1, 0, 1)


@pytest.mark.server_connections
async def test_a_dead_connection_is_counted_as_replaced(
    make_db: Callable[..., Database], rawrepo_backend: str
) -> None:
    """Killed behind the pool's back (by the server, or closed under the pool on SQLite):
    the next session gets a new connection, found out at checkout or at its first
    statement."""
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    async with db.session() as session:
        victim = session.connection
        kill = await KILLERS[rawrepo_backend](session)
    await kill()
    async with db.session() as session:
        assert await session.fetch_value("core.select_one") == 1
        assert session.connection is not victim
    metrics = db.pool_metrics()
    assert (metrics.replaced, metrics.size, metrics.in_use, metrics.timeouts) == (1, 1, 0, 0)


@pytest.mark.server_connections
@pytest.mark.rawrepo_backends("postgresql", "mysql")
async def test_a_connection_found_dead_at_its_first_statement_is_counted_as_replaced(
    make_db: Callable[..., Database],
) -> None:
    """The server kills the idle connection while this event loop is blocked, so the
    pool cannot know at checkout: the session's first statement finds out, and the
    session carries on with a new connection."""
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    async with db.session() as session:
        victim = session.connection
        kill = await prepare_server_kill(session)
    killer = threading.Thread(target=lambda: asyncio.run(kill()))
    killer.start()
    killer.join()  # blocks this loop: the victim's end is not read until the next await
    time.sleep(0.2)  # noqa: ASYNC251 - blocking on purpose: the server closes the socket
    assert not victim.is_closed()
    async with db.session() as session:
        assert await session.fetch_value("core.select_one") == 1
        assert session.connection is not victim
    metrics = db.pool_metrics()
    assert (metrics.replaced, metrics.size, metrics.acquisitions) == (1, 1, 3)


async def test_health_check_reports_the_pool_metrics_beside_its_old_fields(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=3, max_overflow=2)
    async with db.session() as session:
        await session.fetch_value("core.select_one")
        status = await db.health_check()
    assert status.healthy
    assert (status.size, status.in_use, status.idle, status.waiting) == (2, 1, 1, 0)
    assert (status.max_size, status.acquisitions, status.timeouts, status.replaced) == (5, 2, 0, 0)
    assert db.pool_metrics().acquisitions == 2  # the health check's ping took one
    assert status.pool == PoolMetrics(2, 5, 1, 1, 0, 2, 0, 0)


def test_an_unconnected_database_reports_an_empty_pool() -> None:
    db = Database("sqlite+aiosqlite:///:memory:")
    assert db.pool_metrics() == PoolMetrics(0, 1, 0, 0, 0, 0, 0, 0)
