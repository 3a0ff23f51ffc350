"""One session, one statement at a time: a call that overlaps another on the same
session (``asyncio.gather`` on one session) raises SessionBusyError at once, on every
driver, and the session goes on working (rawrepo/database.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rawrepo import Database, RawRepoError, Session, SessionBusyError

SQL_DIR = Path(__file__).parent / "sql_core"
# Generous: the old failure was a hang until a driver timeout, not a slow answer.
AT_ONCE = 10


def item(id: int, name: str) -> dict[str, object]:
    return {"id": id, "parent_id": None, "name": name, "qty": 0}


@pytest_asyncio.fixture(loop_scope="session")
async def db(items_url: str) -> AsyncIterator[Database]:
    async with Database(items_url, sql_dir=SQL_DIR, pool_size=2) as database:
        async with database.session() as session:
            await session.execute("items.delete_items")
            await session.execute("items.delete_parents")
        yield database


async def both(first: Awaitable[Any], second: Awaitable[Any]) -> list[Any]:
    async with asyncio.timeout(AT_ONCE):
        return await asyncio.gather(first, second, return_exceptions=True)


async def names(db: Database) -> list[str]:
    async with db.session() as session:
        return [row["name"] for row in await session.fetch_all("items.list_items")]


async def test_two_overlapping_reads_on_one_session_raise_session_busy(db: Database) -> None:
    async with db.session() as session:
        first, second = await both(
            session.fetch_value("core.echo_value", value="a"),
            session.fetch_value("core.echo_value", value="b"),
        )
        assert first == "a"
        assert isinstance(second, SessionBusyError)
        assert isinstance(second, RawRepoError)
        assert "core.echo_value" in str(second)
        assert "one statement at a time" in str(second)
        # the session is not harmed: the next call runs
        assert await session.fetch_value("core.echo_value", value="c") == "c"
    assert db.pool is not None and db.pool.in_use == 0


async def test_two_overlapping_first_writes_neither_begin_twice_nor_hang(db: Database) -> None:
    async with db.session() as session:
        first, second = await both(
            session.execute("items.insert_item", **item(1, "one")),
            session.execute("items.insert_item", **item(2, "two")),
        )
        assert first == 1
        assert isinstance(second, SessionBusyError)
        assert session.in_transaction
    assert await names(db) == ["one"]


Call = Callable[[Session], Awaitable[Any]]


async def _begin(session: Session) -> None:
    await session.begin()


async def _savepoint(session: Session) -> None:
    async with session.savepoint():
        pass


async def _stream(session: Session) -> None:
    async for _ in session.stream_batches("items.list_items"):
        pass


@pytest.mark.parametrize(
    "call", [_begin, _savepoint, _stream], ids=["begin", "savepoint", "stream"]
)
async def test_begin_savepoint_and_stream_wait_for_no_one_either(db: Database, call: Call) -> None:
    async with db.session() as session:
        first, second = await both(
            session.execute("items.insert_item", **item(3, "three")), call(session)
        )
        assert first == 1
        assert isinstance(second, SessionBusyError)
        await call(session)  # on its own it works
    assert await names(db) == ["three"]


async def test_a_stream_batch_fetched_during_another_call_raises_session_busy(
    db: Database,
) -> None:
    async with db.session() as session:
        await session.execute_many("items.insert_item", [item(i, f"n{i}") for i in range(1, 6)])
    async with db.session() as session:
        batches = session.stream_batches("items.list_items", batch_size=2)
        first_batch = await anext(batches)
        count, fetch = await both(session.fetch_value("items.count_items"), anext(batches))
        assert [row["id"] for row in first_batch] == [1, 2]
        assert count == 5
        assert isinstance(fetch, SessionBusyError)
        assert await session.fetch_value("items.count_items") == 5
