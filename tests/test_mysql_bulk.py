"""MySQL's execute_many of a single-row INSERT: rawrepo builds the multi-row INSERTs
itself (rawrepo/drivers/mysql.py, ``_MultiRow``), in statements of at most
``MAX_STATEMENT_CHARS`` characters, inside the session's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import rawrepo.drivers.mysql as mysql_driver
from rawrepo import Database, UniqueViolation

SQL_DIR = Path(__file__).parent / "sql_core"
pytestmark = pytest.mark.rawrepo_backends("mysql")


def item(id: int, name: str) -> dict[str, object]:
    return {"id": id, "parent_id": None, "name": name, "qty": id}


@pytest_asyncio.fixture(loop_scope="session")
async def db(items_url: str) -> AsyncIterator[Database]:
    async with Database(items_url, sql_dir=SQL_DIR) as database:
        async with database.session() as session:
            await session.execute("items.delete_items")
        yield database


async def stored(db: Database) -> list[tuple[int, str, int]]:
    async with db.session() as session:
        rows = await session.fetch_all("items.list_items")
    return [(r["id"], r["name"], r["qty"]) for r in rows]


async def test_rows_beyond_one_statement_are_split_and_all_stored(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # about 40 characters a row: 60 rows take several 300-character statements
    monkeypatch.setattr(mysql_driver, "MAX_STATEMENT_CHARS", 300)
    rows = [item(i, f"n{i}'%\\") for i in range(1, 61)]
    async with db.session() as session:
        assert await session.execute_many("items.insert_item", rows) == 60
    assert await stored(db) == [(i, f"n{i}'%\\", i) for i in range(1, 61)]


async def test_a_failure_in_a_later_statement_stores_none_of_the_rows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mysql_driver, "MAX_STATEMENT_CHARS", 300)
    rows = [item(i, f"n{i}") for i in range(1, 41)] + [item(41, "n1")]  # duplicate name
    with pytest.raises(UniqueViolation) as info:
        async with db.session() as session:
            await session.execute_many("items.insert_item", rows)
    assert info.value.query == "items.insert_item"
    assert await stored(db) == []


async def test_one_row_is_one_statement(db: Database) -> None:
    async with db.session() as session:
        assert await session.execute_many("items.insert_item", [item(7, "seven")]) == 1
    assert await stored(db) == [(7, "seven", 7)]


def test_only_single_row_inserts_take_the_multi_row_path() -> None:
    plan = mysql_driver._multi_row_plan
    assert plan("INSERT INTO t (a, b) VALUES (%(a)s, %(b)s)") is not None
    assert plan("insert into t (a) values (%(a)s) ON DUPLICATE KEY UPDATE a = a") is not None
    assert plan("UPDATE t SET a = %(a)s WHERE id = %(id)s") is None
    assert plan("INSERT INTO t (a) SELECT %(a)s FROM dual") is None
    assert plan("INSERT INTO t (a) VALUES (%(a)s + 1)") is None  # an expression, not a value
    # the loader doubles a literal % when a statement has parameters; sent without
    # parameters, the multi-row text must carry it single again
    built = plan("INSERT INTO t (a, b) VALUES (%(b)s, %(a)s) ON DUPLICATE KEY UPDATE c = '100%%'")
    assert built is not None
    assert built.statements(repr, [{"a": 1, "b": 2}, {"a": 3, "b": 4}]) == [
        "INSERT INTO t (a, b) VALUES (2, 1),(4, 3) ON DUPLICATE KEY UPDATE c = '100%'"
    ]


async def test_text_is_stored_exactly_when_the_session_uses_no_backslash_escapes(
    db: Database,
) -> None:
    names = ["a'b\\c", 'q"\\n', "100%"]
    async with db.session() as session:
        async with session.connection.raw.cursor() as cur:  # type: ignore[attr-defined]
            await cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        rows = [item(i, name) for i, name in enumerate(names, start=1)]
        assert await session.execute_many("items.insert_item", rows) == 3
    assert [name for _, name, _ in await stored(db)] == names
