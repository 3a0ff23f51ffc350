"""Server faults on throwaway servers: connections killed while idle or mid-query, the
server stopped (crashed) and started again. SQLite has no server: its "stop" is the
database folder becoming unreachable with its connections closed under the pool,
and "killed mid-query" is its statement interrupted from another thread (see
``servers.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from contextlib import AsyncExitStack

import pytest

from rawrepo import (
    CommitOutcomeUnknownError,
    ConnectionFailed,
    Database,
    DatabaseError,
    PoolTimeoutError,
    RawRepoError,
)
from rawrepo.pool import Pool

from .conftest import MakeDatabase
from .servers import ThrowawayServer

# What the call whose connection is killed under it raises: the servers drop the
# connection; SQLite's interrupted statement fails but its connection lives on.
KILLED_MID_QUERY: dict[str, type[DatabaseError]] = {
    "postgresql": ConnectionFailed,
    "mysql": ConnectionFailed,
    "sqlite": DatabaseError,
}


def live_pool(db: Database) -> Pool:
    assert db.pool is not None
    return db.pool


async def committed_ids(db: Database) -> set[int]:
    async with db.session() as session:
        return {row["id"] for row in await session.fetch_all("rel.note_ids")}


async def test_idle_connections_killed_by_the_server_are_replaced_by_the_next_sessions(
    fault_server: ThrowawayServer, fault_db: MakeDatabase
) -> None:
    db = await fault_db(pool_size=3, max_overflow=0, pool_timeout=5)
    async with AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(db.session()) for _ in range(3)]
        victims = [s.connection for s in sessions]
        for session in sessions:
            await session.fetch_all("rel.note_ids")
    assert live_pool(db).idle == 3

    killed = await fault_server.kill_connections(db.url.render(mask=False))
    assert killed >= 3

    async def write(i: int) -> None:
        async with db.session() as session:
            assert session.connection not in victims
            await session.execute("rel.insert_note", id=i)

    await write(0)
    await asyncio.gather(*(write(i) for i in range(1, 10)))
    assert await committed_ids(db) == set(range(10))
    pool = live_pool(db)
    assert pool.in_use == 0
    assert 1 <= pool.size <= 3


async def test_connection_killed_mid_query_fails_that_call_rolls_back_and_the_pool_survives(
    fault_server: ThrowawayServer, fault_db: MakeDatabase, rawrepo_backend: str
) -> None:
    db = await fault_db(pool_size=2, max_overflow=0, pool_timeout=5)
    started = 0.0
    with pytest.raises(KILLED_MID_QUERY[rawrepo_backend]) as info:
        async with db.session() as session:
            await session.execute("rel.insert_note", id=1)  # never committed
            kill = await fault_server.prepare_kill(session)
            running = asyncio.create_task(session.fetch_value("rel.sleep", seconds=5))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await kill()
            await running
    assert time.monotonic() - started < 2.5
    assert "interrupted" in str(info.value) or isinstance(info.value, ConnectionFailed)
    assert live_pool(db).in_use == 0
    assert await committed_ids(db) == set()
    async with db.session() as session:
        await session.execute("rel.insert_note", id=2)
    assert await committed_ids(db) == {2}
    assert live_pool(db).in_use == 0


async def test_while_the_server_is_down_health_is_unhealthy_and_sessions_fail_promptly(
    fault_server: ThrowawayServer, fault_db: MakeDatabase
) -> None:
    db = await fault_db(pool_size=2, max_overflow=0, pool_timeout=5)
    async with db.session() as session:
        await session.execute("rel.insert_note", id=1)
    assert (await db.health_check()).healthy

    await fault_server.astop()
    try:
        start = time.monotonic()
        status = await db.health_check(timeout=2.0)
        assert time.monotonic() - start < 2.5
        assert status.healthy is False
        assert status.error
        assert status.in_use == 0

        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(ConnectionFailed):
                async with db.session() as session:
                    await session.fetch_all("rel.note_ids")
            assert time.monotonic() - start < 2.5
        assert live_pool(db).in_use == 0
    finally:
        await fault_server.astart()

    # The same Database object, never restarted, works again.
    assert await wait_until_healthy(db) < 20
    assert await committed_ids(db) == {1}


async def wait_until_healthy(db: Database, limit: float = 20.0) -> float:
    """Seconds until a session of ``db`` works again (fails the test after ``limit``)."""
    start = time.monotonic()
    while True:
        try:
            async with db.session() as session:
                await session.fetch_all("rel.note_ids")
            return time.monotonic() - start
        except ConnectionFailed:
            if time.monotonic() - start > limit:
                raise
            await asyncio.sleep(0.1)


async def test_after_a_crash_and_restart_no_acknowledged_write_is_missing(
    fault_server: ThrowawayServer, fault_db: MakeDatabase
) -> None:
    db = await fault_db(pool_size=4, max_overflow=0, pool_timeout=10)
    acknowledged: set[int] = set()
    lost_connection = 0
    unexpected: list[BaseException] = []
    restarted_at: float | None = None
    acknowledged_after_restart = 0
    done = asyncio.Event()
    recovered = asyncio.Event()  # 20 writes acknowledged after the restart
    ids = itertools.count(1)

    async def writer() -> None:
        nonlocal lost_connection, acknowledged_after_restart
        while not done.is_set():
            note = next(ids)
            try:
                async with db.session() as session:
                    await session.execute("rel.insert_note", id=note)
            except (ConnectionFailed, CommitOutcomeUnknownError):
                # not acknowledged: lost before COMMIT (not stored), or while COMMIT was on
                # its way (CommitOutcomeUnknownError: stored once or not at all)
                lost_connection += 1
                await asyncio.sleep(0.02)
                continue
            except RawRepoError as exc:
                unexpected.append(exc)
                await asyncio.sleep(0.02)
                continue
            acknowledged.add(note)
            if restarted_at is not None:
                acknowledged_after_restart += 1
                if acknowledged_after_restart >= 20:
                    recovered.set()

    writers = [asyncio.create_task(writer()) for _ in range(4)]
    try:
        await asyncio.sleep(0.4)
        before_crash = len(acknowledged)
        await fault_server.astop()
        await asyncio.sleep(0.5)
        await fault_server.astart()
        restarted_at = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recovered.wait(), timeout=20)
    finally:
        done.set()
        await asyncio.wait_for(asyncio.gather(*writers), timeout=30)

    assert unexpected == []
    assert before_crash > 0
    assert lost_connection > 0  # the crash was felt
    assert acknowledged_after_restart >= 20  # the same Database recovered
    stored = await committed_ids(db)
    assert acknowledged <= stored, f"lost acknowledged writes: {sorted(acknowledged - stored)}"


async def test_a_connection_closed_twice_at_once_does_not_hang(fault_db: MakeDatabase) -> None:
    # The pool and a killer (or two cleanups) may race to close one connection.
    db = await fault_db(pool_size=1, max_overflow=0)
    async with db.session() as session:
        conn = session.connection
        await session.fetch_all("rel.note_ids")
    await asyncio.wait_for(asyncio.gather(conn.close(), conn.close(), conn.close()), timeout=5)
    assert conn.is_closed()
    async with db.session() as session:
        assert session.connection is not conn
        assert await session.fetch_all("rel.note_ids") == []


async def stop_unseen(server: ThrowawayServer) -> None:
    """Stop the server so that the pool's idle connections still look alive: the event
    loop is blocked meanwhile, so no driver has seen its socket close yet (SQLite has no
    socket: its connections are closed under the pool)."""
    if server.backend == "sqlite":
        await server.astop()
    else:
        server.stop()


async def test_pool_accounting_holds_after_the_server_goes_down_and_comes_back(
    fault_server: ThrowawayServer, fault_db: MakeDatabase
) -> None:
    db = await fault_db(pool_size=2, max_overflow=1, pool_timeout=2)
    pool = live_pool(db)
    notes = itertools.count(1)

    def assert_counts() -> None:
        assert 0 <= pool.in_use <= pool.size <= 3, (pool.size, pool.in_use)

    for _ in range(3):
        async with AsyncExitStack() as stack:  # three open connections, two kept idle
            for _ in range(3):
                session = await stack.enter_async_context(db.session())
                await session.fetch_all("rel.note_ids")
        await stop_unseen(fault_server)
        try:
            for write in (True, False, True, False):
                with pytest.raises(ConnectionFailed):
                    async with db.session() as session:
                        if write:
                            await session.execute("rel.insert_note", id=next(notes))
                        else:
                            await session.fetch_all("rel.note_ids")
                assert_counts()
        finally:
            await fault_server.astart()
        await wait_until_healthy(db)
        assert_counts()
        assert pool.in_use == 0

    # The limit still holds: three sessions hold all connections, a fourth waits in vain.
    async with AsyncExitStack() as stack:
        for _ in range(3):
            session = await stack.enter_async_context(db.session())
            await session.fetch_all("rel.note_ids")
        assert (pool.size, pool.in_use) == (3, 3)
        with pytest.raises(PoolTimeoutError):
            async with db.session() as session:
                await session.fetch_all("rel.note_ids")
        assert (pool.size, pool.in_use) == (3, 3)
    assert (pool.size, pool.in_use) == (2, 0)
    async with db.session() as session:
        await session.execute("rel.insert_note", id=0)
    assert await committed_ids(db) == {0}  # none of the failed writes was stored
