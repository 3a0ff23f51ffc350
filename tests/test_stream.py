"""Session.stream / stream_batches on every backend: all rows, in bounded batches,
through a server-side cursor (rawrepo/database.py, drivers' stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import Database, DatabaseError
from rawrepo.testing import DatabaseFactory

SQL_DIR = Path(__file__).parent / "sql_core"
ROWS = 103


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stream_url(rawrepo_databases: DatabaseFactory) -> str:
    url = await rawrepo_databases.create()
    async with Database(url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.execute("items.create_parents")
        await session.execute("items.create_items")
        await session.execute_many(
            "items.insert_item",
            [{"id": i, "parent_id": None, "name": f"n{i}", "qty": i} for i in range(ROWS)],
        )
    return url


@pytest_asyncio.fixture(loop_scope="session")
async def db(stream_url: str) -> AsyncIterator[Database]:
    async with Database(stream_url, sql_dir=SQL_DIR, pool_size=2) as database:
        yield database


async def test_stream_batches_yields_every_row_in_batches_of_at_most_batch_size(
    db: Database,
) -> None:
    async with db.session() as session:
        batches = [b async for b in session.stream_batches("items.list_items", batch_size=10)]
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert [row["name"] for b in batches for row in b] == [row["name"] for row in await _all(db)]


async def test_stream_yields_rows_one_by_one(db: Database) -> None:
    async with db.session() as session:
        names = [row["name"] async for row in session.stream("items.list_items", batch_size=7)]
    assert len(names) == ROWS
    assert names == [row["name"] for row in await _all(db)]


async def test_a_stream_left_early_does_not_break_the_session(db: Database) -> None:
    async with db.session() as session:
        seen = 0
        async for _ in session.stream("items.list_items", batch_size=5):
            seen += 1
            if seen == 3:
                break
        await session.execute("items.set_qty", id=0, qty=500)
        assert await session.fetch_value("items.count_items") == ROWS
    async with db.session() as session:
        assert (await session.fetch_one("items.get_item", id=0)) == {
            "id": 0,
            "name": "n0",
            "qty": 500,
        }
        await session.execute("items.set_qty", id=0, qty=0)
    assert db.pool is not None and db.pool.in_use == 0


async def test_leaving_the_session_closes_an_unfinished_stream(db: Database) -> None:
    async with db.session() as session:
        stream = session.stream_batches("items.list_items", batch_size=4)
        assert len(await anext(stream)) == 4
    async with db.session() as session:  # the connection is fit for the next session
        assert await session.fetch_value("items.count_items") == ROWS
    assert db.pool is not None and db.pool.in_use == 0


async def test_stream_rejects_a_bad_batch_size(db: Database) -> None:
    async with db.session() as session:
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="batch_size"):
                await anext(session.stream_batches("items.list_items", batch_size=bad))


async def test_stream_of_bad_sql_raises_a_translated_error(db: Database) -> None:
    with pytest.raises(DatabaseError) as info:
        async with db.session() as session:
            await anext(session.stream_batches("items.bad_syntax"))
    assert "items.bad_syntax" in str(info.value)
    assert info.value.__cause__ is not None


async def _all(db: Database) -> list[dict[str, object]]:
    async with db.session() as session:
        return await session.fetch_all("items.list_items")
