"""rawrepo behind pgbouncer in transaction mode (pgbouncer started by the tests, on a
free loopback port, in front of the PostgreSQL test server).

The whole PostgreSQL suite also runs through pgbouncer as the ``postgresql+pgbouncer``
target (with the documented URL, ``?statement_cache_size=0``); these tests show what
the setting and pgbouncer's ``server_reset_query_always`` are for: with asyncpg's
statement cache on, a statement runs on another server connection than the one that
prepared it, which rawrepo reports loudly instead of returning another client's
rows; session state does not pass to the next client with the recommended settings
and does without them; and rawrepo itself leaves no state behind on a server
connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rawrepo import Database, DatabaseError, migrate, sqlcheck
from rawrepo.pgbouncer import PgBouncer
from rawrepo.testing import DatabaseFactory, backend_server_url

SQL_DIR = Path(__file__).parent / "sql_pgbouncer"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def server_url() -> str:
    return backend_server_url("postgresql")


@pytest.fixture(scope="module")
def bouncers(server_url: str) -> Iterator[dict[str, PgBouncer]]:
    """pgbouncers in front of the test server: ``recommended`` (docs/scaling.md),
    ``no_reset`` (pgbouncer's default: no reset query in transaction mode) and the
    ``single_*`` ones with one server connection per database, so consecutive
    clients share it for certain."""
    made = {
        "recommended": PgBouncer(server_url, pool_size=2),
        "no_reset": PgBouncer(server_url, pool_size=2, reset_always=False),
        "single_recommended": PgBouncer(server_url, pool_size=1),
        "single_no_reset": PgBouncer(server_url, pool_size=1, reset_always=False),
    }
    try:
        for bouncer in made.values():
            bouncer.start()
        yield made
    finally:
        for bouncer in made.values():
            bouncer.stop()


@pytest.fixture
async def database(server_url: str) -> str:
    """A fresh empty database on the test server; its name."""
    factory = DatabaseFactory("postgresql", server_url, Path("/tmp"))
    url = await factory.create("bouncer")
    _DATABASES.append(factory)
    return url.rsplit("/", 1)[1].split("?")[0]


_DATABASES: list[DatabaseFactory] = []


@pytest.fixture(scope="module", autouse=True)
async def _drop_databases() -> object:
    yield None
    for factory in _DATABASES:
        await factory.drop_all()
    _DATABASES.clear()


def workload(url: str, rounds: int) -> dict[str, object]:
    """Run tests/pgbouncer_workload.py in a new process (a separate application)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "tests.pgbouncer_workload", url, str(rounds)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


async def processes(url: str, count: int = 2, rounds: int = 40) -> list[dict[str, object]]:
    return list(
        await asyncio.gather(*(asyncio.to_thread(workload, url, rounds) for _ in range(count)))
    )


# --- the statement cache -------------------------------------------------------------


@pytest.mark.parametrize("bouncer", ["recommended", "no_reset"])
async def test_the_documented_url_gives_right_results_from_several_processes(
    bouncers: dict[str, PgBouncer], database: str, bouncer: str
) -> None:
    url = bouncers[bouncer].url(database, statement_cache_size="0")
    results = await processes(url)
    assert [r["errors"] for r in results] == [[], []]
    assert [r["wrong"] for r in results] == [0, 0]
    assert [r["right"] for r in results] == [200, 200]  # 5 sessions x 40 queries each


@pytest.mark.parametrize("bouncer", ["recommended", "no_reset"])
async def test_with_the_statement_cache_on_it_fails_loudly_and_never_returns_a_wrong_row(
    bouncers: dict[str, PgBouncer], database: str, bouncer: str
) -> None:
    # Two processes whose statements (same shape, other results) share two server
    # connections: plain asyncpg returned the other process's results here (30 of 200
    # wrong in one measurement, with pgbouncer's default settings).
    url = bouncers[bouncer].url(database)  # the cache on: the unsafe setting
    results = await processes(url)
    assert [r["wrong"] for r in results] == [0, 0]
    errors = [e for r in results for e in r["errors"]]  # type: ignore[attr-defined]
    assert errors, "expected the misplaced statements to fail"
    for error in errors:
        assert "statement_cache_size=0" in error and "pooler" in error


async def test_the_first_statement_that_changes_server_connection_raises_the_pooler_error(
    bouncers: dict[str, PgBouncer], database: str
) -> None:
    # The recommended pgbouncer discards a statement when its transaction ends: the
    # first call prepares and runs it in one go, the second finds it gone.
    async with (
        Database(bouncers["recommended"].url(database), sql_dir=SQL_DIR) as db,
        db.create_session() as session,
    ):
        assert await session.fetch_value("bouncer.plus_1", n=1) == 2
        with pytest.raises(DatabaseError) as info:
            await session.fetch_value("bouncer.plus_1", n=1)
    error = info.value
    assert error.sqlstate == "26000" and error.query == "bouncer.plus_1"
    assert error.hint is not None and "?statement_cache_size=0" in error.hint
    assert "transaction mode" in str(error)


async def test_statement_names_are_unique_to_each_connection(server_url: str) -> None:
    # asyncpg's own names (__asyncpg_stmt_1__, _2__, ...) restart in every process;
    # rawrepo's carry a random part per connection, so no two clients share one.
    pattern = re.compile(r"__asyncpg_stmt_([0-9a-f]{12})_[0-9a-f]+__")
    async with (
        Database(server_url, sql_dir=SQL_DIR, pool_size=2) as db,
        db.create_session() as one,
        db.create_session() as two,
    ):
        tags = []
        for session in (one, two):
            await session.fetch_value("bouncer.plus_1", n=1)
            await session.fetch_value("bouncer.plus_2", n=1)
            raw = session.connection.raw  # type: ignore[attr-defined]
            names = [r[0] for r in await raw.fetch("SELECT name FROM pg_prepared_statements")]
            matches = [pattern.fullmatch(name) for name in names]
            assert names and all(matches), names
            tags.append({m.group(1) for m in matches if m})
    assert len(tags[0]) == len(tags[1]) == 1  # one tag per connection
    assert tags[0] != tags[1]


# --- session state -------------------------------------------------------------------


async def leave_session_state(url: str) -> int:
    """A client that sets every kind of session state; returns its server process."""
    async with Database(url, sql_dir=SQL_DIR) as db, db.create_session() as session:
        pid = int(await session.fetch_value("bouncer.backend_pid"))
        await session.execute("bouncer.set_timeout")
        await session.fetch_value("bouncer.set_guc", value="leaked")
        await session.fetch_value("bouncer.lock", key=42)
        await session.execute("bouncer.create_temp")
        await session.execute("bouncer.prepare")
        assert await session.fetch_value("bouncer.prepared") >= 1
    return pid


async def session_state_seen(url: str) -> tuple[int, dict[str, object]]:
    """What the next client of the (single) server connection finds there."""
    async with Database(url, sql_dir=SQL_DIR) as db, db.create_session() as session:
        await session.begin()  # one transaction: one server connection for all checks
        return int(await session.fetch_value("bouncer.backend_pid")), {
            "timeout": await session.fetch_value("bouncer.get_timeout"),
            "setting": await session.fetch_value("bouncer.get_guc") or "",
            "advisory locks": await session.fetch_value("bouncer.held_locks"),
            "temp table": await session.fetch_value("bouncer.has_temp"),
            "prepared statements": await session.fetch_value("bouncer.prepared"),
        }


CLEAN = {
    "timeout": "0",
    "setting": "",
    "advisory locks": 0,
    "temp table": False,
    "prepared statements": 0,
}
LEAKED = {
    "timeout": "123s",
    "setting": "leaked",
    "advisory locks": 1,
    "temp table": True,
    "prepared statements": 1,
}


@pytest.mark.parametrize(
    ("bouncer", "expected"),
    [
        pytest.param("single_recommended", CLEAN, id="recommended-settings-nothing-passes"),
        # pgbouncer's default in transaction mode: why docs/scaling.md asks for the setting
        pytest.param("single_no_reset", LEAKED, id="without-reset-query-always-it-leaks"),
    ],
)
async def test_session_state_and_the_next_client_of_the_server_connection(
    bouncers: dict[str, PgBouncer], database: str, bouncer: str, expected: dict[str, object]
) -> None:
    url = bouncers[bouncer].url(database, statement_cache_size="0")
    first = await leave_session_state(url)
    pid, seen = await session_state_seen(url)
    assert pid == first  # the same server connection (pgbouncer has only one)
    assert seen == expected


async def test_rawrepo_leaves_no_session_state_on_a_server_connection(
    bouncers: dict[str, PgBouncer], database: str
) -> None:
    # Without pgbouncer's reset: everything rawrepo does (migrations, reads, writes,
    # bulk writes, a custom-plan read, a stream, sql check) and then a clean connection.
    url = bouncers["single_no_reset"].url(database, statement_cache_size="0")
    await asyncio.to_thread(migrate.apply, url)
    from rawrepo.models import TaskCreate, UserCreate
    from rawrepo.repositories import TaskRepository
    from rawrepo.services import TaskService, UserService

    async with Database(url, sql_dir=SQL_DIR) as db:
        async with db.create_session() as session:
            user = await UserService().create_user(session, UserCreate(username="bouncer"))
            await TaskRepository().bulk_create(
                session, [TaskCreate(title=f"t{i}", user_id=user.id) for i in range(30)]
            )
            await TaskService().create(session, TaskCreate(title="zebra", user_id=user.id))
        async with db.create_session() as session:
            assert len(await session.fetch_all("bouncer.custom_plan", rows=5)) == 5
            found = await TaskRepository().search_by_title(session, "zebra")
            assert [t.title for t in found] == ["zebra"]
            rows = [
                row async for row in session.stream("bouncer.custom_plan", rows=50, batch_size=7)
            ]
            assert len(rows) == 50
    report = await sqlcheck.check_queries(url)
    assert report.ok, [q.line_text() for q in report.failed]
    _, seen = await session_state_seen(url)
    assert seen == CLEAN
