"""Query tags: every statement starts with ``/* rawrepo:<query name> */``, added once
at load time (rawrepo/queries.py), on by default, off with ``SQL_TAGS=0`` or
``Database(query_tags=False)``; what the servers receive, and what still works with
the tag in front (batching, EXPLAIN, sql check)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

import rawrepo.drivers.mysql as mysql_driver
import rawrepo.drivers.postgresql as postgresql_driver
from rawrepo import BUNDLED_SQL_DIR, ConfigurationError, Database, load_queries, sqlcheck
from rawrepo.config import Dialect
from rawrepo.drivers.base import is_ddl, target_table
from rawrepo.queries import parse_query, query_tag, tag_of

SQL_DIR = Path(__file__).parent / "sql_observe"
DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite")


def tagged(source: str, dialect: Dialect, name: str = "area.q") -> Any:
    return parse_query(source, dialect, name=name, path=Path("area/q.sql"), tag=True)


# --- at load time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("postgresql", "SELECT * FROM t WHERE a = $1 AND b LIKE '5%' AND c = $1"),
        ("mysql", "SELECT * FROM t WHERE a = %(a)s AND b LIKE '5%%' AND c = %(a)s"),
        ("sqlite", "SELECT * FROM t WHERE a = :a AND b LIKE '5%' AND c = :a"),
    ],
)
def test_the_tag_starts_the_statement_each_dialect_rewrote(dialect: Dialect, body: str) -> None:
    query = tagged(
        "-- description\nSELECT * FROM t WHERE a = :a AND b LIKE '5%' AND c = :a;", dialect
    )
    assert query.sql == f"/* rawrepo:area.q */ {body}"
    assert query.tag == "/* rawrepo:area.q */"
    assert query.body == body
    assert query.params == ("a",)
    assert query.description == "description"


def test_without_tags_the_statement_is_the_file_as_before() -> None:
    query = parse_query("SELECT :a", "postgresql", name="area.q", path=Path("area/q.sql"))
    assert (query.sql, query.tag, query.body) == ("SELECT $1", "", "SELECT $1")


def test_a_tag_can_never_end_its_comment_early_or_hold_a_placeholder() -> None:
    assert query_tag("reports.daily") == "/* rawrepo:reports.daily */"
    assert (
        query_tag("x */ DROP TABLE t; /* %(a)s :b")
        == "/* rawrepo:x____DROP_TABLE_t_______a_s__b */"
    )
    assert tag_of("/* rawrepo:tasks.get_by_user */ SELECT 1") == "tasks.get_by_user"
    assert tag_of("  /* rawrepo:a.b */\nSELECT 1") == "a.b"
    assert tag_of("SELECT 1") is None
    # a tag further in is not this statement's: EXPLAIN of a query is not the query
    assert tag_of("EXPLAIN /* rawrepo:tasks.get_by_user */ SELECT 1") is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_load_queries_tags_every_statement_when_asked(dialect: Dialect) -> None:
    plain = load_queries(BUNDLED_SQL_DIR, dialect)
    with_tags = load_queries(BUNDLED_SQL_DIR, dialect, tags=True)
    assert set(plain) == set(with_tags)
    for name, query in with_tags.items():
        assert query.sql == f"/* rawrepo:{name} */ {plain[name].sql}"
        assert query.body == plain[name].sql
        assert (query.is_write, query.params) == (plain[name].is_write, plain[name].params)


def test_what_drivers_read_from_a_statement_ignores_its_tag() -> None:
    insert = tagged("INSERT INTO t (a, b) VALUES (:a, :b)", "mysql")
    plan = mysql_driver._multi_row_plan(insert.sql)
    assert plan is not None  # still one multi-row INSERT for execute_many
    assert plan.statements(repr, [{"a": 1, "b": 2}, {"a": 3, "b": 4}]) == [
        "/* rawrepo:area.q */ INSERT INTO t (a, b) VALUES (1, 2),(3, 4)"
    ]
    assert postgresql_driver._one_row_per_call(
        tagged("INSERT INTO t (a) VALUES (:a)", "postgresql")
    )
    assert is_ddl(tagged("CREATE TABLE t (a int)", "sqlite"))
    assert not is_ddl(tagged("SELECT 1", "sqlite"))
    assert target_table(tagged("UPDATE items SET a = :a", "sqlite")) == "items"
    assert tagged("SELECT 1", "sqlite").operation == "SELECT"
    assert tagged("WITH x AS (SELECT 1) DELETE FROM t", "postgresql").operation == "DELETE"


# --- the setting ---------------------------------------------------------------------------


def test_tags_are_on_by_default_and_the_setting_turns_them_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SQL_TAGS", raising=False)
    url = "sqlite+aiosqlite:///:memory:"
    assert Database(url).query_tags is True
    assert Database(url).queries["users.get_by_id"].tag == "/* rawrepo:users.get_by_id */"
    assert Database(url, query_tags=False).queries["users.get_by_id"].tag == ""
    monkeypatch.setenv("SQL_TAGS", "0")
    assert Database(url).queries["users.get_by_id"].tag == ""
    assert Database(url, query_tags=True).query_tags is True  # the argument wins
    monkeypatch.setenv("SQL_TAGS", "maybe")
    with pytest.raises(ConfigurationError, match="SQL_TAGS must be a boolean"):
        Database(url)


# --- on the servers ------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def db(observe_url: str) -> AsyncIterator[Database]:
    async with Database(observe_url, sql_dir=SQL_DIR) as database:
        yield database


@pytest.mark.rawrepo_backends("postgresql", "mysql")
async def test_the_server_receives_the_statement_with_its_tag(db: Database) -> None:
    async with db.session() as session:
        text = await session.fetch_value("obs.own_statement")
    assert text.startswith("/* rawrepo:obs.own_statement */ SELECT ")


@pytest.mark.rawrepo_backends("sqlite")
async def test_sqlite_receives_the_statement_with_its_tag(db: Database) -> None:
    sent: list[str] = []
    async with db.session() as session:
        await session.connection.raw.set_trace_callback(sent.append)  # type: ignore[attr-defined]
        await session.fetch_all("obs.item_by_id", id=1)
        await session.connection.raw.set_trace_callback(None)  # type: ignore[attr-defined]
    assert [s for s in sent if "obs_items" in s] == [
        "/* rawrepo:obs.item_by_id */ SELECT id, name FROM obs_items WHERE id = 1"
    ]


@pytest.mark.server_connections
@pytest.mark.rawrepo_backends("postgresql")
async def test_a_query_is_prepared_once_with_its_tag_however_often_it_runs(
    db: Database,
) -> None:
    async with db.session() as session:
        for i in range(5):
            await session.fetch_one("obs.item_by_id", id=i)
        prepared = await session.fetch_all("obs.prepared_statements")
    texts = [r["statement"] for r in prepared if "obs_items" in r["statement"]]
    assert texts == ["/* rawrepo:obs.item_by_id */ SELECT id, name FROM obs_items WHERE id = $1"]


@pytest.mark.rawrepo_backends("mysql")
async def test_execute_many_still_sends_one_multi_row_insert(db: Database) -> None:
    async with db.session() as session:
        await session.execute("obs.rename", id=0, name="x")  # the transaction begins
        before = await session.fetch_one("obs.insert_statements")
        rows = [{"id": 1000 + i, "name": f"bulk{i}"} for i in range(5)]
        assert await session.execute_many("obs.insert_item", rows) == 5
        after = await session.fetch_one("obs.insert_statements")
    assert before is not None and after is not None
    assert int(after["Value"]) - int(before["Value"]) == 1


async def test_literal_percent_and_parameters_survive_the_tag(db: Database) -> None:
    async with db.session() as session:
        await session.execute("obs.insert_item", id=2000, name="100% sure")
        await session.execute("obs.insert_item", id=2001, name="unsure")
        names = await session.fetch_all("obs.names_like", part="0% s")
    assert [r["name"] for r in names] == ["100% sure"]


async def test_sql_check_and_explain_work_on_tagged_statements(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQL_TAGS", raising=False)
    report = await sqlcheck.check_queries(migrated_database_url)
    assert report.ok, [q.line_text() for q in report.failed]
    plans = await sqlcheck.explain_query(migrated_database_url, ["tasks.get_by_user"])
    ((query, lines),) = plans
    assert query.tag == "/* rawrepo:tasks.get_by_user */"
    assert lines
