"""Pool discipline under abuse: sessions that raise, an exhausted pool, and queries
cancelled mid-flight (``asyncio.timeout``), on every backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from rawrepo import Database, PoolTimeoutError, Session, UniqueViolation
from rawrepo.pool import Pool

from .conftest import MakeDatabase


class Boom(Exception):
    """Raised by a test inside a session."""


def live_pool(db: Database) -> Pool:
    assert db.pool is not None
    return db.pool


async def note_ids(db: Database) -> set[int]:
    async with db.session() as session:
        return {row["id"] for row in await session.fetch_all("rel.note_ids")}


async def test_a_thousand_sessions_that_raise_leave_no_connection_in_use_and_nothing_written(
    notes_db: MakeDatabase,
) -> None:
    db = await notes_db(pool_size=3, max_overflow=2, pool_timeout=30)

    async def fail(i: int) -> None:
        async with db.session() as session:
            kind = i % 4
            if kind >= 1:
                await session.execute("rel.insert_note", id=i)
            if kind == 2:
                await session.execute("rel.insert_note", id=i)  # the database refuses it
            if kind == 3:
                async with session.savepoint():
                    await session.execute("rel.insert_note", id=-i)
            raise Boom

    results = await asyncio.gather(*(fail(i) for i in range(1000)), return_exceptions=True)
    assert sum(isinstance(r, Boom) for r in results) == 750
    assert sum(isinstance(r, UniqueViolation) for r in results) == 250
    pool = live_pool(db)
    assert pool.in_use == 0
    assert 1 <= pool.size <= 5
    assert await note_ids(db) == set()
    assert pool.in_use == 0


async def test_an_exhausted_pool_raises_pool_timeout_after_pool_timeout(
    notes_db: MakeDatabase,
) -> None:
    db = await notes_db(pool_size=2, max_overflow=1, pool_timeout=0.3)
    async with AsyncExitStack() as stack:
        for _ in range(3):
            session = await stack.enter_async_context(db.session())
            await session.fetch_all("rel.note_ids")
        start = time.monotonic()
        with pytest.raises(PoolTimeoutError, match="pool_timeout"):
            async with db.session():
                pass
        assert 0.29 <= time.monotonic() - start < 1.0
        assert live_pool(db).in_use == 3
    assert live_pool(db).in_use == 0
    assert await note_ids(db) == set()


async def _timeout_inside_the_session(
    db: Database, work: Callable[[Session], Awaitable[None]]
) -> None:
    async with db.session() as session:
        async with asyncio.timeout(0.3):
            await work(session)


async def _timeout_around_the_session(
    db: Database, work: Callable[[Session], Awaitable[None]]
) -> None:
    async with asyncio.timeout(0.3), db.session() as session:
        await work(session)


@pytest.mark.parametrize(
    "cancel",
    [_timeout_inside_the_session, _timeout_around_the_session],
    ids=["timeout-inside-session", "timeout-around-session"],
)
async def test_a_cancelled_query_leaves_no_transaction_open_and_frees_its_locks(
    notes_db: MakeDatabase,
    cancel: Callable[[Database, Callable[[Session], Awaitable[None]]], Awaitable[None]],
) -> None:
    db = await notes_db(pool_size=1, max_overflow=0, pool_timeout=5)
    other = await notes_db(pool_size=1, max_overflow=0, pool_timeout=5)
    async with db.session() as session:
        await session.execute("rel.insert_note", id=7)

    async def work(session: Session) -> None:
        await session.execute("rel.bump_note", id=7)  # holds row 7 (SQLite: the file's write lock)
        await session.execute("rel.insert_note", id=1)
        await session.fetch_value("rel.sleep", seconds=5)

    start = time.monotonic()
    with pytest.raises(TimeoutError):
        await cancel(db, work)
    assert time.monotonic() - start < 2.5
    assert live_pool(db).in_use == 0

    # Its locks died with it: another client changes row 7 at once, not after 5 s.
    async with asyncio.timeout(2), other.session() as session:
        await session.execute("rel.bump_note", id=7)
    # The next sessions see committed state only, and the pool of one still serves.
    assert await note_ids(db) == {7}
    async with db.session() as session:
        assert await session.fetch_value("rel.note_n", id=7) == 1
    assert live_pool(db).in_use == 0


@pytest.mark.rawrepo_backends("postgresql", "mysql")
async def test_a_cancelled_query_is_stopped_on_the_server(notes_db: MakeDatabase) -> None:
    # SQLite runs in-process: its interrupted statement stops at once (see above).
    db = await notes_db(pool_size=1, max_overflow=0)
    watcher = await notes_db(pool_size=1, max_overflow=0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), db.session() as session:
            await session.fetch_value("rel.sleep", seconds=5)
    running = -1
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        async with watcher.session() as session:
            running = await session.fetch_value("rel.running_sleeps")
        if running == 0:
            break
        await asyncio.sleep(0.05)
    assert running == 0, "the cancelled statement still runs on the server"
    pool = live_pool(db)
    assert pool.in_use == 0
    async with db.session() as session:  # and its pool of one serves again
        assert await session.fetch_value("rel.note_n", id=1) in (None, 0)
    assert pool.in_use == 0
