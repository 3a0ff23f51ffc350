"""The slow-query log (``SQL_SLOW_MS`` / ``Database(slow_ms=)``): one WARNING on the
``rawrepo.sql`` logger per statement at least that slow, naming the query, its
duration, rows and backend, never a parameter value; nothing at all when unset."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import ConfigurationError, Database, UniqueViolation

SQL_DIR = Path(__file__).parent / "sql_observe"
SECRET = "s3cr3t-value-never-logged"
HOLD_S = 0.6  # how long a lock is held; the statement waiting for it takes about as long
THRESHOLD_MS = 150.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def slow_url(observe_url: str) -> str:
    async with Database(observe_url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.execute("obs.insert_item", id=1, name="one")
    return observe_url


@pytest_asyncio.fixture(loop_scope="session")
async def make_db(slow_url: str) -> AsyncIterator[Callable[..., Database]]:
    made: list[Database] = []

    def make(**settings: object) -> Database:
        db = Database(slow_url, sql_dir=SQL_DIR, tracing=False, **settings)  # type: ignore[arg-type]
        made.append(db)
        return db

    yield make
    for db in made:
        await db.disconnect()


def slow_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "rawrepo.sql" and r.levelno == logging.WARNING]


async def test_threshold_zero_logs_every_statement_with_name_duration_rows_and_backend(
    make_db: Callable[..., Database], rawrepo_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = make_db(slow_ms=0)
    caplog.set_level(logging.WARNING, logger="rawrepo.sql")
    async with db.session() as session:
        await session.execute("obs.insert_item", id=10, name=SECRET)
        rows = await session.fetch_all("obs.all_items")
        await session.fetch_one("obs.item_by_id", id=-1)
    records = slow_records(caplog)
    assert [r.query_name for r in records] == [  # type: ignore[attr-defined]
        "obs.insert_item",
        "obs.all_items",
        "obs.item_by_id",
    ]
    assert [r.rows for r in records] == [1, len(rows), 0]  # type: ignore[attr-defined]
    for record in records:
        message = record.getMessage()
        expected = rf"slow query obs\.\w+: \d+\.\d ms, \d+ row\(s\), on {rawrepo_backend}"
        assert re.fullmatch(expected + r" \(SQL_SLOW_MS 0\)", message), message
        assert record.backend == rawrepo_backend  # type: ignore[attr-defined]
        assert record.duration_ms >= 0  # type: ignore[attr-defined]
        assert record.threshold_ms == 0  # type: ignore[attr-defined]
    assert SECRET not in caplog.text
    assert all(SECRET not in str(vars(r)) for r in records)


async def test_a_statement_slower_than_the_threshold_logs_one_warning_and_a_fast_one_none(
    make_db: Callable[..., Database], rawrepo_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The slow statement waits for a row lock (PostgreSQL, MySQL) or the write lock
    (SQLite) that another Database holds for HOLD_S seconds: it cannot take less."""
    holder, waiter = make_db(), make_db(slow_ms=THRESHOLD_MS)
    async with waiter.session() as session:  # open the waiter's connection beforehand
        assert await session.fetch_value("obs.count_items") >= 1
    caplog.set_level(logging.WARNING, logger="rawrepo.sql")
    locked = asyncio.Event()

    async def hold() -> None:
        async with holder.session() as session:
            await session.execute("obs.rename", id=1, name="held")
            locked.set()
            await asyncio.sleep(HOLD_S)

    holding = asyncio.create_task(hold())
    await locked.wait()
    async with waiter.session(autocommit=True) as session:
        assert await session.execute("obs.rename", id=1, name=SECRET) == 1
    await holding
    records = slow_records(caplog)
    assert len(records) == 1
    (record,) = records
    assert record.query_name == "obs.rename"  # type: ignore[attr-defined]
    assert record.rows == 1  # type: ignore[attr-defined]
    assert record.backend == rawrepo_backend  # type: ignore[attr-defined]
    assert record.duration_ms >= THRESHOLD_MS  # type: ignore[attr-defined]
    assert record.getMessage().startswith("slow query obs.rename: ")
    assert SECRET not in caplog.text


async def test_a_failed_slow_statement_is_logged_with_its_error_not_its_values(
    make_db: Callable[..., Database], caplog: pytest.LogCaptureFixture
) -> None:
    db = make_db(slow_ms=0)
    caplog.set_level(logging.WARNING, logger="rawrepo.sql")
    with pytest.raises(UniqueViolation):
        async with db.session() as session:
            await session.execute("obs.insert_item", id=1, name=SECRET)
    (record,) = slow_records(caplog)
    assert record.rows is None  # type: ignore[attr-defined]
    assert "failed (UniqueViolation)" in record.getMessage()
    assert SECRET not in caplog.text


async def test_unset_logs_nothing_and_costs_nothing(
    make_db: Callable[..., Database],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SQL_SLOW_MS", raising=False)
    monkeypatch.delenv("SQL_ECHO", raising=False)
    db = make_db()
    assert db.slow_ms is None
    assert db._hook is None  # no echo, no slow log, no tracing: statements go straight through
    caplog.set_level(logging.DEBUG, logger="rawrepo.sql")
    async with db.session() as session:
        await session.fetch_all("obs.all_items")
    assert [r for r in caplog.records if r.name == "rawrepo.sql"] == []


def test_sql_slow_ms_sets_the_threshold_and_bad_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "sqlite+aiosqlite:///:memory:"
    monkeypatch.setenv("SQL_SLOW_MS", "250")
    assert Database(url).slow_ms == 250.0
    assert Database(url, slow_ms=5).slow_ms == 5.0  # the argument wins
    monkeypatch.setenv("SQL_SLOW_MS", "")
    assert Database(url).slow_ms is None
    for bad in ("-1", "soon", "inf"):
        monkeypatch.setenv("SQL_SLOW_MS", bad)
        with pytest.raises(
            ConfigurationError, match="SQL_SLOW_MS must be a number of milliseconds"
        ):
            Database(url)
    monkeypatch.delenv("SQL_SLOW_MS")
    with pytest.raises(ConfigurationError, match="slow_ms must be"):
        Database(url, slow_ms=-5)
