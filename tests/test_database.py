"""Database and Session on every backend: transactions, savepoints, results, lifecycle
(rawrepo/database.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import rawrepo.database
from rawrepo import (
    Database,
    RawRepoError,
    Session,
    UniqueViolation,
    get_async_db_connection,
)

SQL_DIR = Path(__file__).parent / "sql_core"


class Boom(Exception):
    """Raised by a test inside a session."""


def item(id: int, name: str, qty: int = 0, parent_id: int | None = None) -> dict[str, object]:
    return {"id": id, "parent_id": parent_id, "name": name, "qty": qty}


@pytest_asyncio.fixture(loop_scope="session")
async def db(items_url: str) -> AsyncIterator[Database]:
    """A connected Database on the items database, emptied first."""
    async with Database(items_url, sql_dir=SQL_DIR) as database:
        async with database.session() as session:
            await session.execute("items.delete_items")
            await session.execute("items.delete_parents")
        yield database


async def names(db: Database) -> list[str]:
    async with db.session() as session:
        return [row["name"] for row in await session.fetch_all("items.list_items")]


# --- transactions ----------------------------------------------------------------------


async def test_a_session_starts_its_transaction_at_its_first_write(db: Database) -> None:
    async with db.create_session() as session:
        assert await session.fetch_all("items.list_items") == []
        assert not session.in_transaction
        await session.execute("items.insert_item", **item(1, "one"))
        assert session.in_transaction
        assert await session.fetch_value("items.count_items") == 1
    assert await names(db) == ["one"]


async def test_a_write_after_reads_still_rolls_back_as_one_transaction(db: Database) -> None:
    with pytest.raises(Boom):
        async with db.create_session() as session:
            await session.fetch_all("items.list_items")
            await session.execute("items.insert_item", **item(1, "one"))
            await session.execute("items.insert_item", **item(2, "two"))
            raise Boom
    assert await names(db) == []


async def test_read_only_sessions_run_while_another_session_holds_a_write_transaction(
    items_url: str,
) -> None:
    # Reads take no transaction and, on SQLite, not the single-writer lock either.
    db = Database(items_url, sql_dir=SQL_DIR, pool_size=3, pool_timeout=5)
    async with db, db.create_session() as writer:
        await writer.execute("items.insert_item", **item(7, "pending"))
        for _ in range(2):
            async with asyncio.timeout(2), db.create_session() as reader:
                assert await reader.fetch_value("items.item_name", id=7) is None
                assert not reader.in_transaction
        await writer.execute("items.delete_items")


async def test_begin_starts_the_transaction_before_any_write(db: Database) -> None:
    async with db.create_session() as session:
        await session.begin()
        assert session.in_transaction
        await session.begin()  # idempotent
        assert await session.fetch_all("items.list_items") == []


async def test_session_commits_on_normal_exit(db: Database) -> None:
    async with db.create_session() as session:
        await session.execute("items.insert_item", **item(1, "kept"))
    assert await names(db) == ["kept"]


async def test_session_rolls_back_on_exception_and_the_exception_propagates(
    db: Database,
) -> None:
    with pytest.raises(Boom):
        async with db.create_session() as session:
            await session.execute("items.insert_item", **item(1, "gone"))
            await session.execute("items.set_qty", id=1, qty=5)
            raise Boom
    assert await names(db) == []
    assert db.pool is not None and db.pool.in_use == 0


async def test_failed_statement_rolls_back_the_whole_session(db: Database) -> None:
    with pytest.raises(UniqueViolation):
        async with db.session() as session:
            await session.execute("items.insert_item", **item(1, "first"))
            await session.execute("items.insert_item", **item(2, "first"))
    assert await names(db) == []


async def test_savepoint_rolls_back_alone_and_the_outer_transaction_commits(
    db: Database,
) -> None:
    async with db.session() as session:
        await session.execute("items.insert_item", **item(1, "outer"))
        with pytest.raises(Boom):
            async with session.savepoint():
                await session.execute("items.insert_item", **item(2, "inner"))
                await session.execute("items.set_qty", id=1, qty=9)
                raise Boom
        await session.execute("items.insert_item", **item(3, "after"))
    async with db.session() as session:
        rows = await session.fetch_all("items.list_items")
    assert rows == [{"id": 1, "name": "outer", "qty": 0}, {"id": 3, "name": "after", "qty": 0}]


async def test_savepoint_exited_normally_keeps_its_changes(db: Database) -> None:
    async with db.session() as session, session.savepoint() as inner:
        assert inner is session
        await session.execute("items.insert_item", **item(1, "inside"))
    assert await names(db) == ["inside"]


async def test_failed_statement_in_savepoint_leaves_the_transaction_usable(
    db: Database,
) -> None:
    async with db.session() as session:
        await session.execute("items.insert_item", **item(1, "dup"))
        with pytest.raises(UniqueViolation):
            async with session.savepoint():
                await session.execute("items.insert_item", **item(2, "dup"))
        await session.execute("items.insert_item", **item(3, "fine"))
    assert await names(db) == ["dup", "fine"]


async def test_nested_savepoints_roll_back_only_the_innermost(db: Database) -> None:
    async with db.session() as session, session.savepoint():
        await session.execute("items.insert_item", **item(1, "level1"))
        async with session.savepoint():
            await session.execute("items.insert_item", **item(2, "level2"))
            with pytest.raises(Boom):
                async with session.savepoint():
                    await session.execute("items.insert_item", **item(3, "level3"))
                    raise Boom
        with pytest.raises(Boom):
            async with session.savepoint():
                await session.execute("items.insert_item", **item(4, "sibling"))
                async with session.savepoint():
                    await session.execute("items.insert_item", **item(5, "nested"))
                raise Boom
    assert await names(db) == ["level1", "level2"]


async def test_exception_after_savepoint_rolls_back_everything(db: Database) -> None:
    with pytest.raises(Boom):
        async with db.session() as session:
            async with session.savepoint():
                await session.execute("items.insert_item", **item(1, "saved"))
            raise Boom
    assert await names(db) == []


# --- autocommit sessions -----------------------------------------------------------------


async def test_an_autocommit_session_commits_each_write_at_once(db: Database) -> None:
    async with db.create_session(autocommit=True) as session:
        assert session.autocommit
        await session.execute("items.insert_item", **item(1, "one"))
        assert not session.in_transaction
        # visible to others while the session is still open; on SQLite this also
        # shows the single-writer lock went back with the statement
        async with asyncio.timeout(5), db.create_session() as other:
            assert await other.fetch_value("items.item_name", id=1) == "one"
            await other.execute("items.insert_item", **item(2, "two"))
    assert await names(db) == ["one", "two"]


async def test_an_exception_in_an_autocommit_session_keeps_the_calls_before_it(
    db: Database,
) -> None:
    with pytest.raises(UniqueViolation):
        async with db.create_session(autocommit=True) as session:
            await session.execute("items.insert_item", **item(1, "kept"))
            await session.execute("items.insert_item", **item(2, "kept"))
    assert await names(db) == ["kept"]


async def test_execute_many_in_an_autocommit_session_is_one_transaction(db: Database) -> None:
    async with db.create_session(autocommit=True) as session:
        with pytest.raises(UniqueViolation):
            await session.execute_many(
                "items.insert_item", [item(1, "x"), item(2, "y"), item(3, "x")]
            )
        assert not session.in_transaction
        assert await session.fetch_value("items.count_items") == 0
        assert await session.execute_many("items.insert_item", [item(4, "a"), item(5, "b")]) == 2
        assert not session.in_transaction
    assert await names(db) == ["a", "b"]


async def test_begin_in_an_autocommit_session_makes_what_follows_atomic(db: Database) -> None:
    with pytest.raises(Boom):
        async with db.create_session(autocommit=True) as session:
            await session.execute("items.insert_item", **item(1, "before"))
            await session.begin()
            await session.execute("items.insert_item", **item(2, "inside"))
            assert session.in_transaction
            raise Boom
    assert await names(db) == ["before"]
    async with db.create_session(autocommit=True) as session:
        await session.begin()
        await session.execute("items.insert_item", **item(3, "committed"))
    assert await names(db) == ["before", "committed"]


# --- results and row counts ------------------------------------------------------------


async def test_fetch_methods_return_rows_as_dicts_values_and_none(db: Database) -> None:
    async with db.session() as session:
        await session.execute("items.insert_item", **item(1, "one", qty=10))
        await session.execute("items.insert_item", **item(2, "two", qty=20))
        assert await session.fetch_all("items.list_items") == [
            {"id": 1, "name": "one", "qty": 10},
            {"id": 2, "name": "two", "qty": 20},
        ]
        assert await session.fetch_one("items.get_item", id=2) == {
            "id": 2,
            "name": "two",
            "qty": 20,
        }
        assert await session.fetch_one("items.get_item", id=99) is None
        assert await session.fetch_value("items.item_name", id=1) == "one"
        assert await session.fetch_value("items.item_name", id=99) is None
        assert await session.fetch_value("items.count_items") == 2


async def test_execute_returns_rows_affected(db: Database) -> None:
    async with db.session() as session:
        assert await session.execute("items.insert_item", **item(1, "a", qty=1)) == 1
        assert await session.execute("items.insert_item", **item(2, "b", qty=2)) == 1
        assert await session.execute("items.set_qty", id=1, qty=7) == 1
        assert await session.execute("items.set_qty", id=99, qty=7) == 0
        assert await session.execute("items.set_all_qty", qty=3) == 2
        assert await session.execute("items.delete_items") == 2


async def test_update_to_the_same_value_counts_the_matched_row(db: Database) -> None:
    async with db.session() as session:
        await session.execute("items.insert_item", **item(1, "same", qty=4))
        assert await session.execute("items.set_qty", id=1, qty=4) == 1
        assert await session.execute("items.set_all_qty", qty=4) == 1


async def test_execute_many_inserts_every_row_and_counts_them(db: Database) -> None:
    rows = [item(i, f"n{i}", qty=i) for i in range(1, 51)]
    async with db.session() as session:
        assert await session.execute_many("items.insert_item", rows) == 50
        assert await session.execute_many("items.insert_item", []) == 0
        updates = [{"id": 1, "qty": 1}, {"id": 2, "qty": 100}, {"id": 999, "qty": 5}]
        assert await session.execute_many("items.set_qty", updates) == 2
    async with db.session() as session:
        assert await session.fetch_value("items.count_items") == 50
        assert await session.fetch_one("items.get_item", id=2) == {
            "id": 2,
            "name": "n2",
            "qty": 100,
        }


async def test_execute_many_failure_stores_none_of_the_rows(db: Database) -> None:
    rows = [item(1, "x"), item(2, "y"), item(3, "x")]
    with pytest.raises(UniqueViolation):
        async with db.session() as session:
            await session.execute_many("items.insert_item", rows)
    assert await names(db) == []


async def test_query_object_can_be_passed_instead_of_its_name(db: Database) -> None:
    query = db.queries["items.count_items"]
    async with db.session() as session:
        assert session.query("items.count_items") is query
        assert await session.fetch_value(query) == 0


# --- lifecycle -------------------------------------------------------------------------


async def test_session_used_after_exit_raises_a_clear_error(db: Database) -> None:
    async with db.session() as session:
        pass
    with pytest.raises(RawRepoError, match="session has ended"):
        await session.fetch_all("items.list_items")
    with pytest.raises(RawRepoError, match="session has ended"):
        await session.execute("items.delete_items")
    with pytest.raises(RawRepoError, match="session has ended"):
        async with session.savepoint():
            pass


async def test_session_connects_lazily_without_connect(items_url: str) -> None:
    db = Database(items_url, sql_dir=SQL_DIR)
    assert db.pool is None
    try:
        async with db.session() as session:
            assert isinstance(session, Session)
            assert await session.fetch_value("items.count_items") >= 0
        assert db.pool is not None and db.pool.size == 1
    finally:
        await db.disconnect()
    assert db.pool is None


def test_session_is_an_alias_of_create_session() -> None:
    assert Database.session is Database.create_session


async def test_async_with_database_connects_and_disconnects(items_url: str) -> None:
    async with Database(items_url, sql_dir=SQL_DIR) as db:
        pool = db.pool
        assert pool is not None
        async with db.session() as session:
            await session.fetch_value("items.count_items")
        assert pool.size == 1
    assert db.pool is None
    assert pool.closed and pool.size == 0


async def test_database_can_reconnect_after_disconnect(items_url: str) -> None:
    db = Database(items_url, sql_dir=SQL_DIR)
    await db.connect()
    await db.disconnect()
    async with db.session() as session:
        assert await session.fetch_value("items.count_items") >= 0
    await db.disconnect()


async def test_dialect_names_the_backend(rawrepo_backend: str, items_url: str) -> None:
    async with Database(items_url, sql_dir=SQL_DIR) as db, db.session() as session:
        assert db.dialect == rawrepo_backend
        assert session.dialect == rawrepo_backend


# --- the process-wide Database ---------------------------------------------------------


def test_get_async_db_connection_returns_one_database_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rawrepo.database, "_default", None)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'default.db'}")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "3")
    first = get_async_db_connection()
    assert isinstance(first, Database)
    assert first.url.database == str(tmp_path / "default.db")
    assert first.pool_size == 3
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/other")
    assert get_async_db_connection() is first  # made once, on the first call


async def test_default_database_runs_sessions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rawrepo.database, "_default", None)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'default.db'}")
    db = get_async_db_connection()
    try:
        async with db.session() as session:
            assert session.dialect == "sqlite"
    finally:
        await db.disconnect()
    assert (tmp_path / "default.db").is_file()
