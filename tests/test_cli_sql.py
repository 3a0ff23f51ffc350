"""``rawrepo sql list | check | explain`` run as real subprocesses, on every backend."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from rawrepo.config import DIALECTS
from rawrepo.queries import BUNDLED_SQL_DIR, load_queries

SQL_CHECK = Path(__file__).parent / "sql_check"
OK_LINE = re.compile(r"^ok    [a-z_]+\.[a-z_]+$")
SUMMARY = re.compile(r"^(\d+) queries checked on (\w+): (\d+) ok, (\d+) failed$")


def rawrepo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rawrepo ARGS`` without DATABASE_URL."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "rawrepo", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


async def arawrepo(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(rawrepo, *args)


def shipped(dialect: str) -> list[str]:
    return sorted(load_queries(BUNDLED_SQL_DIR, dialect))  # type: ignore[arg-type]


# -- check --------------------------------------------------------------------------------


async def test_check_passes_the_shipped_queries(
    migrated_database_url: str, rawrepo_backend: str
) -> None:
    done = await arawrepo("sql", "check", "--url", migrated_database_url)
    assert done.returncode == 0, done.stdout + done.stderr
    *lines, summary = done.stdout.splitlines()
    assert all(OK_LINE.match(line) for line in lines), lines
    assert [line.split()[1] for line in lines] == shipped(rawrepo_backend)
    found = SUMMARY.match(summary)
    assert found is not None, summary
    n = str(len(lines))
    assert found.groups() == (n, rawrepo_backend, n, "0")


async def test_check_fails_naming_the_file_with_a_misspelled_column(
    migrated_database_url: str, tmp_path: Path
) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(BUNDLED_SQL_DIR, copy)
    broken = copy / "tasks" / "get_by_status.sql"
    broken.write_text(broken.read_text().replace("WHERE status =", "WHERE statuss ="))
    done = await arawrepo("sql", "check", "--url", migrated_database_url, "--sql-dir", str(copy))
    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1, done.stdout
    assert failures[0].startswith(f"FAIL  tasks.get_by_status: {broken}: ")
    assert "statuss" in failures[0]
    assert done.stdout.splitlines()[-1].endswith(" 1 failed")


@pytest.mark.parametrize(
    ("folder", "name", "message"),
    [
        ("missing_field", "users.get_by_username", "field User.username"),
        ("unpassed_param", "tasks.get_by_user", "parameter :title is never passed"),
    ],
)
async def test_check_fails_on_a_broken_contract(
    migrated_database_url: str, folder: str, name: str, message: str
) -> None:
    done = await arawrepo(
        "sql", "check", "--url", migrated_database_url, "--sql-dir", str(SQL_CHECK / folder)
    )
    assert done.returncode == 1
    (failure,) = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert failure.startswith(f"FAIL  {name}: {SQL_CHECK / folder}/")
    assert message in failure


async def test_check_json_for_machines(migrated_database_url: str, rawrepo_backend: str) -> None:
    done = await arawrepo(
        "sql",
        "check",
        "--json",
        "--url",
        migrated_database_url,
        "--sql-dir",
        str(SQL_CHECK / "missing_field"),
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert set(report) == {"dialect", "url", "ok", "checks", "summary", "queries"}
    assert (report["dialect"], report["ok"]) == (rawrepo_backend, False)
    total = len(shipped(rawrepo_backend))
    assert report["summary"] == {"total": total, "ok": total - 1, "failed": 1}
    by_name = {q["name"]: q for q in report["queries"]}
    failed = by_name["users.get_by_username"]
    assert set(failed) == {"name", "path", "ok", "problems", "position", "line", "note", "models"}
    assert failed["ok"] is False
    assert failed["path"] == str(SQL_CHECK / "missing_field" / "users" / "get_by_username.sql")
    assert failed["problems"] == ["result has no column 'username' for field User.username"]
    assert by_name["users.get_by_id"]["ok"] is True
    assert by_name["users.get_by_id"]["models"] == ["User", "UserWithTasks"]


async def test_check_reports_a_database_it_cannot_reach(tmp_path: Path) -> None:
    done = await arawrepo("sql", "check", "--url", f"sqlite:///{tmp_path / 'none.db'}")
    assert done.returncode == 1
    assert done.stderr.startswith("error: SQLite database ")
    assert not (tmp_path / "none.db").exists()


# -- explain ------------------------------------------------------------------------------


async def test_explain_prints_the_plan_of_a_named_query(migrated_database_url: str) -> None:
    user_id = uuid.uuid4()
    done = await arawrepo(
        "sql",
        "explain",
        "tasks.get_by_user",
        "--url",
        migrated_database_url,
        "--param",
        f"user_id={user_id}",
        "--param",
        "limit=5",  # an int on every backend, or the database rejects LIMIT '5'
    )
    assert done.returncode == 0, done.stderr
    header, *plan = done.stdout.splitlines()
    assert header == f"-- tasks.get_by_user ({BUNDLED_SQL_DIR / 'tasks' / 'get_by_user.sql'})"
    assert plan and all(line.strip() for line in plan)
    assert "tasks" in "\n".join(plan)  # the plan reads the tasks table


async def test_explain_all_prints_every_querys_plan(
    migrated_database_url: str, rawrepo_backend: str
) -> None:
    done = await arawrepo("sql", "explain", "--all", "--url", migrated_database_url)
    assert done.returncode == 0, done.stderr
    headers = [line for line in done.stdout.splitlines() if line.startswith("-- ")]
    assert [h.split()[1] for h in headers] == shipped(rawrepo_backend)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["tasks.get_by_user", "--param", "user_id"], 2, "'user_id' is not KEY=VALUE"),
        (["tasks.get_by_user", "--param", "user_id=nope"], 1, "user_id='nope' is not a valid"),
        (["tasks.get_by_user", "--param", "colour=red"], 1, "has no parameter 'colour'"),
        (["tasks.no_such_query"], 1, "no query named 'tasks.no_such_query'"),
        ([], 2, "one of the arguments name --all is required"),
    ],
)
async def test_explain_rejects_bad_input(
    migrated_database_url: str, args: list[str], code: int, message: str
) -> None:
    done = await arawrepo("sql", "explain", *args, "--url", migrated_database_url)
    assert done.returncode == code
    assert message in done.stderr
    assert done.stdout == ""


# -- list (no database) ----------------------------------------------------------------------


def test_list_shows_every_query_with_each_dialects_file() -> None:
    done = rawrepo("sql", "list", "--sql-dir", str(SQL_CHECK / "dialect_override"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "users.get_by_id  (:id)\n    One user by id.\n" in out
    override = SQL_CHECK / "dialect_override" / "users" / "get_by_id.sqlite.sql"
    assert f"    sqlite      {override}  (override)\n" in out
    assert f"    mysql       {BUNDLED_SQL_DIR / 'users' / 'get_by_id.sql'}\n" in out
    bulk = BUNDLED_SQL_DIR / "tasks" / "bulk_create.postgresql.sql"
    assert f"    postgresql  {bulk}  (override; :ids, :user_ids, " in out
    *lines, summary = out.splitlines()
    names = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert names == sorted({n for d in DIALECTS for n in shipped(d)})
    assert summary == f"{len(names)} queries"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_list_json_gives_the_file_the_dialect_resolves_to(dialect: str) -> None:
    done = rawrepo("sql", "list", "--dialect", dialect, "--json")
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    queries = load_queries(BUNDLED_SQL_DIR, dialect)  # type: ignore[arg-type]
    assert [e["name"] for e in entries] == sorted(queries)
    for entry in entries:
        query = queries[entry["name"]]
        assert entry["dialect"] == dialect
        assert entry["file"] == str(query.path)
        assert entry["files"] == {dialect: str(query.path)}
        assert entry["params"] == list(query.params)
        assert entry["description"] == query.description
        assert entry["overrides"] == ([dialect] if query.path.name.count(".") == 2 else [])
