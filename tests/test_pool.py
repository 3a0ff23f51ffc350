"""The connection pool on every backend: limits, timeouts, overflow, recycling and dead
connections (rawrepo/pool.py and Database's use of it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import ConnectionFailed, Database, DatabaseError, PoolTimeoutError, Session
from rawrepo.pgbouncer import kill_clients
from rawrepo.pool import Pool

SQL_DIR = Path(__file__).parent / "sql_core"

Kill = Callable[[], Awaitable[None]]


async def prepare_server_kill(session: Session) -> Kill:
    """Note the session's server connection id; the returned call kills it from another
    connection, as an administrator (or a failover) would."""
    pid = await session.fetch_value("pool.connection_id")
    url = session.database.url.render(mask=False)

    async def kill() -> None:
        async with Database(url, sql_dir=SQL_DIR) as admin, admin.session() as other:
            await other.execute("pool.kill_connection", pid=pid)

    return kill


async def prepare_pooler_kill(session: Session) -> Kill:
    """Behind pgbouncer a server process is not the client's connection: drop the
    client connections at the pooler instead (its admin console's KILL)."""
    url = session.database.url.render(mask=False)

    async def kill() -> None:
        await kill_clients(url)

    return kill


async def prepare_close(session: Session) -> Kill:
    """SQLite has no server to kill a connection: close it under the pool instead."""
    connection = session.connection
    return connection.close


# How each backend's connection is killed behind the pool's back.
KILLERS: dict[str, Callable[[Session], Awaitable[Kill]]] = {
    "postgresql": prepare_server_kill,
    "postgresql+pgbouncer": prepare_pooler_kill,
    "mysql": prepare_server_kill,
    "sqlite": prepare_close,
}


class Boom(Exception):
    """Raised by a test inside a session."""


def live_pool(db: Database) -> Pool:
    assert db.pool is not None
    return db.pool


@pytest_asyncio.fixture(loop_scope="session")
async def make_db(empty_database_url: str) -> AsyncIterator[Callable[..., Database]]:
    """Build Databases on the backend's empty database; all are disconnected afterwards."""
    made: list[Database] = []

    def make(**settings: float) -> Database:
        db = Database(empty_database_url, sql_dir=SQL_DIR, **settings)  # type: ignore[arg-type]
        made.append(db)
        return db

    yield make
    for db in made:
        await db.disconnect()


async def test_pool_never_opens_more_than_size_plus_overflow_and_then_times_out(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=2, max_overflow=1, pool_timeout=0.3)
    async with AsyncExitStack() as stack:
        for _ in range(3):
            session = await stack.enter_async_context(db.session())
            assert await session.fetch_value("core.select_one") == 1
        pool = live_pool(db)
        assert (pool.size, pool.in_use) == (3, 3)
        start = time.monotonic()
        with pytest.raises(PoolTimeoutError) as info:
            async with db.session():
                pass
        elapsed = time.monotonic() - start
        assert 0.25 <= elapsed < 2
        assert "pool_timeout" in str(info.value)
        assert (pool.size, pool.in_use) == (3, 3)
    assert (pool.size, pool.in_use) == (2, 0)


async def test_busy_sessions_share_the_pool_without_exceeding_its_limit(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=2, max_overflow=2, pool_timeout=10)
    await db.connect()
    pool = live_pool(db)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with db.session() as session:
            peak = max(peak, pool.size, pool.in_use)
            await session.fetch_value("core.select_one")
            await asyncio.sleep(0.005)

    await asyncio.gather(*(work() for _ in range(40)))
    assert peak == 4
    assert (pool.size, pool.in_use) == (2, 0)


async def test_waiter_gets_a_connection_as_soon_as_one_is_released(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold() -> None:
        async with db.session() as session:
            await session.fetch_value("core.select_one")
            holding.set()
            await release.wait()

    got_at = 0.0

    async def wait_for_one() -> None:
        nonlocal got_at
        async with db.session() as session:
            got_at = time.monotonic()
            assert await session.fetch_value("core.select_one") == 1

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiter = asyncio.create_task(wait_for_one())
    await asyncio.sleep(0.2)
    assert not waiter.done()
    released_at = time.monotonic()
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), timeout=5)
    assert got_at - released_at < 0.5
    assert live_pool(db).in_use == 0


async def test_waiters_are_served_first_come_first_served(
    make_db: Callable[..., Database],
) -> None:
    # A session that ends and opens the next one at once must queue behind the
    # sessions already waiting, not take its connection straight back.
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    order: list[str] = []

    async def worker(name: str, rounds: int) -> None:
        for _ in range(rounds):
            async with db.session() as session:
                order.append(name)
                await session.fetch_value("core.select_one")

    await asyncio.wait_for(
        asyncio.gather(worker("a", 3), worker("b", 3), worker("c", 3)), timeout=10
    )
    assert order == ["a", "b", "c"] * 3
    assert live_pool(db).in_use == 0


async def test_each_waiter_times_out_at_its_own_deadline(
    make_db: Callable[..., Database],
) -> None:
    # The waiters share one timer: a later waiter with a shorter timeout must still
    # fail first, and one that is served in time must not fail at all.
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=10)
    await db.connect()
    pool = live_pool(db)
    conn, _ = await pool.acquire()
    start = time.monotonic()

    async def wait(timeout: float) -> float:
        with pytest.raises(PoolTimeoutError):
            await pool.acquire(timeout=timeout)
        return time.monotonic() - start

    slow = asyncio.create_task(wait(0.6))
    await asyncio.sleep(0.05)
    fast = asyncio.create_task(wait(0.2))
    served = asyncio.create_task(pool.acquire(timeout=5))
    assert 0.15 <= await fast < 0.5
    assert 0.55 <= await slow < 1.5
    assert not served.done()
    await pool.release(conn)
    conn2, _ = await asyncio.wait_for(served, timeout=2)
    await pool.release(conn2)
    assert (pool.in_use, pool.size) == (0, 1)


async def test_a_cancelled_waiter_neither_blocks_nor_swallows_a_connection(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    await db.connect()
    pool = live_pool(db)
    conn, _ = await pool.acquire()
    cancelled = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    # the slot handed to a waiter that is cancelled before it runs goes to the next one
    granted_then_cancelled = asyncio.create_task(pool.acquire())
    nxt = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.05)
    await pool.release(conn)  # promised to granted_then_cancelled...
    granted_then_cancelled.cancel()  # ...which is cancelled before it can take it
    with pytest.raises(asyncio.CancelledError):
        await granted_then_cancelled
    conn2, _ = await asyncio.wait_for(nxt, timeout=2)
    await pool.release(conn2)
    async with asyncio.timeout(2), db.session() as session:  # and nothing queues stale
        assert await session.fetch_value("core.select_one") == 1
    assert pool.in_use == 0


async def test_overflow_connections_are_closed_on_release(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=2, max_overflow=3)
    async with AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(db.session()) for _ in range(5)]
        connections = [session.connection for session in sessions]
        assert live_pool(db).size == 5
    pool = live_pool(db)
    assert (pool.size, pool.idle, pool.in_use) == (2, 2, 0)
    assert sum(conn.is_closed() for conn in connections) == 3


async def test_idle_connection_is_reused(make_db: Callable[..., Database]) -> None:
    db = make_db(pool_size=1, max_overflow=0)
    async with db.session() as session:
        first = session.connection
    async with db.session() as session:
        assert session.connection is first


async def test_connection_older_than_pool_recycle_is_replaced(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_recycle=0.2)
    async with db.session() as session:
        first = session.connection
        await session.fetch_value("core.select_one")
    await asyncio.sleep(0.3)
    async with db.session() as session:
        second = session.connection
        assert await session.fetch_value("core.select_one") == 1
    assert second is not first
    assert first.is_closed()
    assert live_pool(db).size == 1
    metrics = db.pool_metrics()
    assert (metrics.replaced, metrics.size, metrics.acquisitions) == (1, 1, 2)


async def test_sessions_that_raise_leave_no_connection_in_use(
    make_db: Callable[..., Database],
) -> None:
    db = make_db(pool_size=3, max_overflow=2, pool_timeout=30)

    async def fail(i: int) -> None:
        async with db.session() as session:
            if i % 3 == 1:
                await session.fetch_value("core.select_one")
            if i % 3 == 2:
                await session.fetch_value("items.bad_syntax")  # the server rejects it
            raise Boom

    results = await asyncio.gather(*(fail(i) for i in range(1000)), return_exceptions=True)
    assert sum(isinstance(r, Boom) for r in results) == 667
    assert sum(type(r) is DatabaseError for r in results) == 333
    pool = live_pool(db)
    assert pool.in_use == 0
    assert 1 <= pool.size <= 5
    async with db.session() as session:
        assert await session.fetch_value("core.select_one") == 1


async def test_killed_idle_connection_is_never_handed_out_again(
    make_db: Callable[..., Database], rawrepo_backend: str, rawrepo_target: str
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    async with db.session() as session:
        victim = session.connection
        kill = await KILLERS.get(rawrepo_target, KILLERS[rawrepo_backend])(session)
    await kill()
    for _ in range(3):
        async with db.session() as session:
            assert session.connection is not victim
            assert await session.fetch_value("core.select_one") == 1
    pool = live_pool(db)
    assert (pool.size, pool.in_use) == (1, 0)


async def test_connection_killed_mid_session_fails_cleanly_and_the_next_session_works(
    make_db: Callable[..., Database], rawrepo_backend: str, rawrepo_target: str
) -> None:
    db = make_db(pool_size=1, max_overflow=0, pool_timeout=5)
    with pytest.raises(ConnectionFailed):
        async with db.session() as session:
            victim = session.connection
            kill = await KILLERS.get(rawrepo_target, KILLERS[rawrepo_backend])(session)
            await kill()
            await session.fetch_value("core.select_one")
    pool = live_pool(db)
    assert pool.in_use == 0
    async with db.session() as session:
        assert session.connection is not victim
        assert await session.fetch_value("core.select_one") == 1
    assert (pool.size, pool.in_use) == (1, 0)


async def prepare_kill_all(sessions: list[Session], stack: AsyncExitStack) -> Kill:
    """Note the sessions' connections; the returned call kills them all from one other
    connection (open until ``stack`` closes), one right after the other and without
    waiting for them to end (SQLite: closes them under the pool)."""
    if sessions[0].dialect == "sqlite":
        connections = [session.connection for session in sessions]

        async def close_all() -> None:
            for connection in connections:
                await connection.close()

        return close_all
    pids = [await session.fetch_value("pool.connection_id") for session in sessions]
    admin = Database(sessions[0].database.url.render(mask=False), sql_dir=SQL_DIR)
    other = await stack.enter_async_context(admin.session())
    stack.push_async_callback(admin.disconnect)

    async def kill_all() -> None:
        for pid in pids:
            await other.execute("pool.terminate", pid=pid)

    return kill_all


@pytest.mark.server_connections
async def test_every_session_after_idle_connections_are_killed_succeeds(
    make_db: Callable[..., Database],
) -> None:
    # No sleep between the kill and the sessions: a connection the server ended may still
    # look open to the driver (asyncpg then fails with "cannot switch to state ...;
    # another operation is in progress"); it is replaced like any dead connection.
    db = make_db(pool_size=5, max_overflow=0, pool_timeout=5)
    failures: list[BaseException] = []
    async with AsyncExitStack() as admin:
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(db.session()) for _ in range(5)]
            kill_all = await prepare_kill_all(sessions, admin)
        victims = [session.connection for session in sessions]
        assert live_pool(db).idle == 5
        await kill_all()
        for i in range(20):
            try:
                async with db.session() as session:
                    if i % 2:
                        assert await session.fetch_value("core.select_one") == 1
                    else:
                        await session.begin()  # a write's first round trip
                    assert session.connection not in victims
            except DatabaseError as exc:
                failures.append(exc)
    assert failures == []
    pool = live_pool(db)
    assert pool.in_use == 0
    assert 1 <= pool.size <= 5


async def test_giving_back_a_connection_twice_changes_no_count(
    make_db: Callable[..., Database],
) -> None:
    # A dead connection may be abandoned by a session and again by its cleanup: the pool
    # must count it once, or its limit drifts and it opens more than it may.
    db = make_db(pool_size=1, max_overflow=1, pool_timeout=0.3)
    await db.connect()
    pool = live_pool(db)
    one, _ = await pool.acquire()
    two, _ = await pool.acquire()
    await one.close()
    await pool.forget(one)
    await pool.forget(one)
    await pool.release(one)
    await pool.release(two)
    await pool.release(two)
    assert (pool.size, pool.in_use, pool.idle) == (1, 0, 1)
    async with AsyncExitStack() as stack:
        for _ in range(2):
            session = await stack.enter_async_context(db.session())
            assert await session.fetch_value("core.select_one") == 1
        assert (pool.size, pool.in_use) == (2, 2)
        with pytest.raises(PoolTimeoutError):
            async with db.session():
                pass
        assert (pool.size, pool.in_use) == (2, 2)
    assert (pool.size, pool.in_use) == (1, 0)


async def test_memory_database_is_shared_by_every_session_of_one_database() -> None:
    async with Database("sqlite+aiosqlite:///:memory:", sql_dir=SQL_DIR) as db:
        async with db.session() as session:
            await session.execute("core.create_notes")
            await session.execute("core.insert_note", id=1)
        async with db.session() as session:
            assert await session.fetch_value("core.count_notes") == 1

        async def add(i: int) -> None:
            async with db.session() as session:
                await session.execute("core.insert_note", id=i)

        await asyncio.gather(*(add(i) for i in range(2, 12)))
        async with db.session() as session:
            assert await session.fetch_value("core.count_notes") == 11


async def test_memory_databases_of_two_database_objects_are_separate() -> None:
    async with (
        Database("sqlite+aiosqlite:///:memory:", sql_dir=SQL_DIR) as one,
        Database("sqlite+aiosqlite:///:memory:", sql_dir=SQL_DIR) as two,
    ):
        async with one.session() as session:
            await session.execute("core.create_notes")
        async with two.session() as session:
            await session.execute("core.create_notes")  # would fail if shared
            assert await session.fetch_value("core.count_notes") == 0
