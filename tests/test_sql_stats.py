"""``rawrepo sql stats`` (rawrepo/sqlstats.py): the server's statement statistics per
query file, on throwaway servers that collect them (PostgreSQL with
``shared_preload_libraries=pg_stat_statements``, MariaDB with
``performance_schema=ON``) and on ones that do not (the error says how to turn them
on). The machine's shared servers are never reconfigured."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import ConfigurationError, Database
from rawrepo.cli import main
from rawrepo.config import parse_url
from rawrepo.drivers.base import load_driver
from rawrepo.sqlstats import StatsReport, collect_stats, normalize_statement
from rawrepo.testing import required_backends
from tests.reliability.servers import (
    MariaDBServer,
    PostgresServer,
    ServerUnavailable,
    ThrowawayServer,
)

SQL_DIR = Path(__file__).parent / "sql_observe"
OTHER_SQL_DIR = Path(__file__).parent / "sql_observe_other"

# How each backend's throwaway server is started with its statistics collected.
INSTRUMENTED: dict[str, Callable[[], ThrowawayServer]] = {
    "postgresql": lambda: PostgresServer({"shared_preload_libraries": "pg_stat_statements"}),
    "mysql": lambda: MariaDBServer(["--performance-schema=ON"]),
}
PLAIN: dict[str, Callable[[], ThrowawayServer]] = {
    "postgresql": PostgresServer,
    "mysql": MariaDBServer,
}
# What the "not collected" error must tell a DBA to do, per backend.
ENABLE_COMMAND = {
    "postgresql": "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
    "mysql": "set performance_schema=ON in the [mysqld] section",
}


class _Servers:
    """The throwaway servers of this module, started on first use."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, bool], ThrowawayServer] = {}
        self.failed: dict[tuple[str, bool], str] = {}

    def get(self, backend: str, target: str, *, instrumented: bool) -> ThrowawayServer:
        key = (backend, instrumented)
        if key not in self.started and key not in self.failed:
            try:
                server = (INSTRUMENTED if instrumented else PLAIN)[backend]()
                self.started[key] = server
                server.setup()
            except (ServerUnavailable, OSError) as exc:
                self.failed[key] = str(exc)
        if key in self.failed:
            text = f"cannot start a throwaway {backend} server: {self.failed[key]}"
            if backend in required_backends():
                pytest.fail(f"RAWREPO_TEST_REQUIRE names {backend}, but {text}", pytrace=False)
            pytest.skip(text)
        server = self.started[key]
        server.scheme = target
        return server

    def destroy(self) -> None:
        for server in self.started.values():
            server.destroy()


@pytest.fixture(scope="module")
def servers() -> Iterator[_Servers]:
    registry = _Servers()
    yield registry
    registry.destroy()


async def new_database(server: ThrowawayServer) -> str:
    name = f"stats_{uuid.uuid4().hex[:10]}"
    await load_driver(parse_url(server.admin_url)).create_database(name)
    return server.url_for(name)


@pytest_asyncio.fixture(loop_scope="session")
async def stats_url(
    servers: _Servers, rawrepo_backend: str, rawrepo_target: str
) -> AsyncIterator[str]:
    """A fresh database on the instrumented server, statistics on, with obs_items."""
    server = servers.get(rawrepo_backend, rawrepo_target, instrumented=True)
    url = await new_database(server)
    async with Database(url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.execute("obs.enable_stats")
        await session.execute("obs.create_items")
    yield url


async def run_workload(url: str) -> None:
    """What the report below must find, file by file."""
    async with Database(url, sql_dir=SQL_DIR) as db:
        for i in range(1, 4):
            async with db.session() as session:
                await session.execute("obs.insert_item", id=i, name=f"item {i}")
        async with db.session() as session:
            rows = [{"id": 10 + i, "name": f"bulk {i}"} for i in range(4)]
            await session.execute_many("obs.insert_item", rows)
        for i in (1, 2):
            async with db.session() as session:
                assert await session.fetch_one("obs.item_by_id", id=i) is not None
    async with Database(url, sql_dir=SQL_DIR, query_tags=False) as untagged:
        for _ in range(2):
            async with untagged.session() as session:
                assert await session.fetch_value("obs.count_items") == 7
    async with Database(url, sql_dir=OTHER_SQL_DIR) as other, other.session() as session:
        assert await session.fetch_value("other.lonely") == 42


@pytest.mark.rawrepo_backends("postgresql", "mysql")
async def test_stats_map_each_statement_back_to_its_query_file(stats_url: str) -> None:
    await run_workload(stats_url)
    report = await collect_stats(stats_url, sql_dirs=[SQL_DIR])
    by_id = report.file("obs.item_by_id")
    assert (by_id.calls, by_id.rows, by_id.names) == (2, 2, ("obs.item_by_id",))
    assert by_id.matched_by == ("tag",)
    assert by_id.path == str(SQL_DIR / "obs" / "item_by_id.sql")
    assert by_id.total_ms > 0
    assert by_id.mean_ms == pytest.approx(by_id.total_ms / 2)
    inserts = report.file("obs.insert_item")
    assert inserts.rows == 7  # 3 single INSERTs and one batch of 4
    assert 4 <= inserts.calls <= 7  # the batch: 4 pipelined calls, or 1 multi-row INSERT
    counts = report.file("obs.count_items")  # ran without tags
    assert (counts.calls, counts.rows, counts.matched_by) == (2, 2, ("text",))
    lonely = [s for s in report.unowned if "lonely_marker" in s.text]
    assert len(lonely) == 1 and lonely[0].calls == 1 and lonely[0].queries == ()
    never = dict(report.never_run)
    assert never["obs.never_run"] == str(SQL_DIR / "obs" / "never_run.sql")
    assert {"obs.item_by_id", "obs.insert_item", "obs.count_items"}.isdisjoint(never)
    assert "users.get_by_id" in never  # the bundled files count too
    assert not any("rawrepo_stats" in s.text for s in report.unowned)  # its own queries
    assert report.notes == []


@pytest.mark.rawrepo_backends("postgresql", "mysql")
def test_the_stats_command_prints_per_file_lines_and_json(
    stats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(run_workload(stats_url))
    assert main(["sql", "stats", "--url", stats_url, "--sql-dir", str(SQL_DIR)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("obs.item_by_id "))
    assert line.split()[1:2] == ["2"]  # calls
    assert line.endswith(str(SQL_DIR / "obs" / "item_by_id.sql"))
    assert "SQL no file owns: " in out and "lonely_marker" in out
    assert "files never run: " in out and "  obs.never_run  " in out
    assert main(["sql", "stats", "--url", stats_url, "--sql-dir", str(SQL_DIR), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"dialect", "url", "source", "files", "unowned", "never_run", "notes"}
    (entry,) = [f for f in data["files"] if f["name"] == "obs.item_by_id"]
    assert entry["calls"] == 2


@pytest.mark.rawrepo_backends("mysql")
async def test_without_the_statement_history_mysql_digests_map_by_their_text(
    stats_url: str,
) -> None:
    async with Database(stats_url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.execute("obs.disable_history")
    try:
        async with Database(stats_url, sql_dir=SQL_DIR) as db:
            for i in (1, 2, 3):
                async with db.session() as session:
                    await session.fetch_one("obs.item_by_id", id=i)
        report = await collect_stats(stats_url, sql_dirs=[SQL_DIR])
    finally:
        async with Database(stats_url, sql_dir=SQL_DIR) as db, db.session() as session:
            await session.execute("obs.enable_stats")
    by_id = report.file("obs.item_by_id")
    assert (by_id.calls, by_id.matched_by) == (3, ("text",))
    assert len(report.notes) == 1 and "events_statements_history_long" in report.notes[0]


@pytest.mark.rawrepo_backends("mysql")
async def test_mysql_without_digests_says_which_consumers_to_turn_on(stats_url: str) -> None:
    async with Database(stats_url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.execute("obs.set_digests", enabled="NO")
    try:
        with pytest.raises(ConfigurationError) as info:
            await collect_stats(stats_url)
    finally:
        async with Database(stats_url, sql_dir=SQL_DIR) as db, db.session() as session:
            await session.execute("obs.set_digests", enabled="YES")
    assert "SET ENABLED = 'YES'" in str(info.value) and "statements_digest" in str(info.value)


@pytest.mark.rawrepo_backends("postgresql", "mysql")
async def test_a_server_that_collects_no_statistics_gets_the_command_that_enables_them(
    servers: _Servers,
    rawrepo_backend: str,
    rawrepo_target: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = await new_database(servers.get(rawrepo_backend, rawrepo_target, instrumented=False))
    with pytest.raises(ConfigurationError) as info:
        await collect_stats(url)
    assert ENABLE_COMMAND[rawrepo_backend] in str(info.value)
    assert "restart" in str(info.value)
    assert await asyncio.to_thread(main, ["sql", "stats", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ENABLE_COMMAND[rawrepo_backend] in err


@pytest.mark.rawrepo_backends("postgresql")
async def test_pg_stat_statements_loaded_but_not_created_says_create_extension(
    servers: _Servers, rawrepo_target: str
) -> None:
    url = await new_database(servers.get("postgresql", rawrepo_target, instrumented=True))
    with pytest.raises(ConfigurationError) as info:
        await collect_stats(url)
    assert "CREATE EXTENSION pg_stat_statements" in str(info.value)
    assert "shared_preload_libraries" not in str(info.value)


@pytest.mark.rawrepo_backends("sqlite")
def test_sqlite_keeps_no_statistics_and_says_what_to_use_instead(
    migrated_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "stats", "--url", migrated_database_url]) == 1
    err = capsys.readouterr().err
    assert "SQLite keeps no statement statistics" in err and "SQL_SLOW_MS" in err


# --- mapping a server's normalized text to a file -------------------------------------


def test_mariadb_digests_normalize_like_the_statement_the_file_sends() -> None:
    pairs = [
        (
            "SELECT ID , NAME FROM `t` WHERE ID = - ? AND NAME IN (...) LIMIT ?",
            "SELECT id, name FROM t WHERE id = %(id)s AND name IN (%(names)s) LIMIT %(n)s",
        ),
        (
            "INSERT INTO `t` ( ID , NAME , `n` ) VALUES (...) /* , ... */ ",
            "INSERT INTO t (id, name, n) VALUES (%(id)s, %(name)s, %(n)s)",
        ),
        (
            "UPDATE `t` SET `n` = `n` + ? WHERE ID = ? AND `s` IS NULL",
            "update t set n = n + 1 where id = %(id)s and s is null",
        ),
        (
            "SELECT COUNT ( * ) AS `c` FROM `t` WHERE NAME LIKE ? ESCAPE ?",
            "SELECT count(*) AS c FROM t WHERE name LIKE %(p)s ESCAPE '\\\\'",
        ),
    ]
    for digest, sent in pairs:
        assert normalize_statement(digest, "mysql") == normalize_statement(sent, "mysql")
    assert normalize_statement("SELECT a FROM t", "mysql") != normalize_statement(
        "SELECT b FROM t", "mysql"
    )


def test_pg_stat_statements_text_normalizes_like_the_file() -> None:
    sent = "SELECT id FROM t WHERE title ILIKE $1 ESCAPE '\\' AND status = 'pending'"
    recorded = "select id from t where title ilike $1 escape $2 and status = $3"
    assert normalize_statement(sent, "postgresql") == normalize_statement(recorded, "postgresql")


def test_statements_the_server_counts_as_one_map_to_all_their_files() -> None:
    rows = [
        {"text": "INSERT INTO `t` ( ID ) VALUES (...)", "calls": 3, "total_ms": 1.5,
         "row_count": 3},
        {"text": "SELECT ID FROM `t` WHERE ID = ?", "calls": 2, "total_ms": 1.0, "row_count": 2},
        {"text": "SELECT ID FROM `t` WHERE ID = ? ORDER BY ...", "calls": 1, "total_ms": 0.5,
         "row_count": 1},  # a digest cut at max_digest_length
    ]  # fmt: skip
    from rawrepo.queries import QuerySet, parse_query
    from rawrepo.sqlstats import _report

    def query(name: str, text: str) -> object:
        return parse_query(text, "mysql", name=name, path=Path(f"{name}.sql"), tag=True)

    queries = QuerySet(
        "mysql",
        {
            "a.create": query("a.create", "INSERT INTO t (id) VALUES (:id)"),
            "a.bulk_create": query("a.bulk_create", "INSERT INTO t (id) VALUES (:id)"),
            "a.get": query("a.get", "SELECT id FROM t WHERE id = :id"),
            "a.sorted": query("a.sorted", "SELECT id FROM t WHERE id = :id ORDER BY id DESC"),
        },  # type: ignore[dict-item]
        [],
    )
    own = QuerySet("mysql", {}, [])
    report: StatsReport = _report("mysql", "mysql://x/db", "performance_schema", queries, own,
                                  rows, {}, [])  # fmt: skip
    assert report.file("a.create") is report.file("a.bulk_create")
    assert report.file("a.create").name == "a.bulk_create | a.create"
    assert report.file("a.get").calls == 2
    assert report.file("a.sorted").calls == 1
    assert report.never_run == [] and report.unowned == []
