"""Health checks, echo logging and password masking (Database.health_check, the
``rawrepo.sql`` logger, DatabaseURL rendering and connection errors)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import ConnectionFailed, Database, RawRepoError
from rawrepo.config import parse_url
from rawrepo.database import HealthStatus

SQL_DIR = Path(__file__).parent / "sql_core"
PASSWORD = "secretpw"
SERVER_VERSION = {
    "postgresql": r"PostgreSQL \d+(\.\d+)*",
    "mysql": r"(MariaDB|MySQL) \d+\.\d+\.\d+",
    "sqlite": r"SQLite 3\.\d+\.\d+",
}


# --- health ----------------------------------------------------------------------------


async def test_health_check_reports_a_reachable_server(
    empty_database_url: str, rawrepo_backend: str
) -> None:
    async with Database(empty_database_url) as db:
        status = await db.health_check()
    assert isinstance(status, HealthStatus)
    assert status.healthy is True
    assert status.error is None
    assert status.dialect == rawrepo_backend
    assert status.server_version is not None
    assert re.fullmatch(SERVER_VERSION[rawrepo_backend], status.server_version)
    assert status.latency_ms is not None and 0 < status.latency_ms < 5000
    assert (status.size, status.in_use) == (1, 0)


async def test_health_check_counts_connections_in_use(empty_database_url: str) -> None:
    async with Database(empty_database_url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.fetch_value("core.select_one")
        status = await db.health_check()
    assert status.healthy is True
    assert (status.size, status.in_use) == (2, 1)


@pytest_asyncio.fixture(loop_scope="session")
async def silent_port() -> AsyncIterator[int]:
    """A local TCP port that accepts connections and never says a word."""
    stop = asyncio.Event()

    async def stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()
        writer.close()

    server = await asyncio.start_server(stay_silent, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    yield port
    stop.set()
    server.close()
    await server.wait_closed()


UNREACHABLE = [
    f"postgresql://u:{PASSWORD}@127.0.0.1:1/x",
    f"mysql://u:{PASSWORD}@127.0.0.1:1/x",
    "postgresql://u:{password}@127.0.0.1:{silent}/x",
    "mysql://u:{password}@127.0.0.1:{silent}/x",
]


@pytest.mark.parametrize("template", UNREACHABLE)
async def test_health_check_of_unreachable_server_is_unhealthy_quickly_without_raising(
    template: str, silent_port: int
) -> None:
    db = Database(template.format(password=PASSWORD, silent=silent_port))
    start = time.monotonic()
    try:
        status = await db.health_check()
    finally:
        await db.disconnect()
    assert time.monotonic() - start < 5
    assert status.healthy is False
    assert status.error
    assert PASSWORD not in status.error
    assert status.server_version is None
    assert status.latency_ms is None
    assert (status.size, status.in_use) == (0, 0)


# --- echo ------------------------------------------------------------------------------

SECRET_VALUE = "recognisable-parameter-7319"
ECHO_LINE = re.compile(r"core\.echo_value \d+\.\d{3} ms, 1 row\(s\)")


def sql_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rawrepo.sql"]


async def run_echo_query(db: Database) -> None:
    async with db, db.session() as session:
        assert await session.fetch_value("core.echo_value", value=SECRET_VALUE) == SECRET_VALUE
        await session.fetch_all("core.select_one")


async def test_echo_logs_query_name_duration_and_rows_but_never_values(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rawrepo.sql")
    await run_echo_query(Database(empty_database_url, sql_dir=SQL_DIR, echo=True))
    messages = sql_messages(caplog)
    assert len(messages) == 2
    assert ECHO_LINE.fullmatch(messages[0])
    assert re.fullmatch(r"core\.select_one \d+\.\d{3} ms, 1 row\(s\)", messages[1])
    assert SECRET_VALUE not in caplog.text
    assert all(SECRET_VALUE not in str(r.args) for r in caplog.records)


async def test_sql_echo_environment_variable_turns_echo_on(
    empty_database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQL_ECHO", "1")
    caplog.set_level(logging.INFO, logger="rawrepo.sql")
    await run_echo_query(Database(empty_database_url, sql_dir=SQL_DIR))
    messages = sql_messages(caplog)
    assert len(messages) == 2
    assert ECHO_LINE.fullmatch(messages[0])
    assert SECRET_VALUE not in caplog.text


async def test_without_echo_nothing_is_logged(
    empty_database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQL_ECHO", raising=False)
    caplog.set_level(logging.DEBUG, logger="rawrepo.sql")
    await run_echo_query(Database(empty_database_url, sql_dir=SQL_DIR))
    assert sql_messages(caplog) == []


# --- password masking ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://alice:{PASSWORD}@db.example:5432/app",
        f"mysql+aiomysql://alice:{PASSWORD}@db.example/app",
    ],
)
def test_repr_and_str_mask_the_password(url: str) -> None:
    db = Database(url)
    for text in (repr(db), str(db.url), repr(db.url), repr(db.settings), db.url.render()):
        assert PASSWORD not in text
    assert "alice:***@db.example" in repr(db)
    assert "alice:***@db.example" in str(db.url)
    assert db.url.render(mask=False).count(PASSWORD) == 1  # kept for the driver


def test_special_characters_in_password_survive_and_stay_masked() -> None:
    url = parse_url("postgresql://alice:p%40ss%3Aw%2Fd@db.example/app")
    assert url.password == "p@ss:w/d"
    assert "p@ss" not in str(url)
    assert parse_url(url.render(mask=False)).password == "p@ss:w/d"


def full_text(exc: BaseException) -> str:
    """The error with its whole cause chain, as a traceback would print it."""
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize("template", UNREACHABLE)
async def test_connection_error_never_contains_the_password(
    template: str, silent_port: int
) -> None:
    db = Database(template.format(password=PASSWORD, silent=silent_port), pool_timeout=2)
    db.connect_timeout = 1.0
    try:
        with pytest.raises(RawRepoError) as info:
            async with db.session():
                pass
    finally:
        await db.disconnect()
    assert "***" in str(info.value)
    assert PASSWORD not in full_text(info.value)


async def test_rejected_connection_raises_connection_failed_without_the_password(
    rawrepo_server_url: str, rawrepo_backend: str, tmp_path: Path
) -> None:
    (tmp_path / "plain_file").write_text("not a folder")
    # What each backend cannot open: a database that does not exist, a path under a file.
    missing = {
        "postgresql": "rawrepo_no_such_database",
        "mysql": "rawrepo_no_such_database",
        "sqlite": str(tmp_path / "plain_file" / "app.db"),
    }
    server = parse_url(rawrepo_server_url)
    url = replace(server, password=PASSWORD, database=missing[rawrepo_backend])
    db = Database(url.render(mask=False))
    try:
        with pytest.raises(ConnectionFailed) as info:
            async with db.session():
                pass
        status = await db.health_check()
    finally:
        await db.disconnect()
    assert PASSWORD not in full_text(info.value)
    assert status.healthy is False
    assert status.error is not None and PASSWORD not in status.error
    assert (status.size, status.in_use) == (0, 0)
