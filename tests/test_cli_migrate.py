"""``rawrepo migrate ...`` run as a real subprocess (rawrepo/cli/migrate.py), on every backend."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from rawrepo import Database, migrate
from rawrepo.config import DIALECTS
from rawrepo.testing import DatabaseFactory, backend_server_url
from tests.migration_helpers import PROJECT, PROJECT_SQL, migrations_with, table_names

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_IDS = [
    "0001.create-users",
    "0002.create-tasks",
    "0003.fold-task-titles",
    "0004.task-idempotency-keys",
]
SECRET = "S3cret-Pa55word"
APPLIED_LINE = re.compile(r"^applied (\S+) \((\d+\.\d) ms\)$")


def rawrepo(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rawrepo ARGS`` (in ``cwd``) without DATABASE_URL unless ``env`` sets it."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rawrepo", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
        check=False,
    )


async def arawrepo(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(rawrepo, *args, env=env, cwd=cwd)


def applied_ids(stdout: str) -> list[str]:
    ids = []
    for line in stdout.splitlines():
        found = APPLIED_LINE.match(line)
        if found:
            ids.append(found.group(1))
    return ids


# --- without a database ----------------------------------------------------------------


def test_help_lists_every_migrate_command() -> None:
    done = rawrepo("migrate", "--help")
    assert done.returncode == 0
    for command in ("apply", "rollback", "status", "new", "check", "break-lock"):
        assert command in done.stdout
    top = rawrepo("--help")
    assert top.returncode == 0
    assert "migrate" in top.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["migrate", "rollback", "--count", "2", "--all"],
        ["migrate", "rollback", "--count", "0"],
        ["migrate", "apply", "--lock-timeout", "-1"],
        ["migrate", "new"],
        ["migrate", "frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = rawrepo(*args)
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_new_and_check(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    done = rawrepo("migrate", "new", "add-priority", "--migrations-dir", str(root))
    assert done.returncode == 0, done.stderr
    created = sorted(line.removeprefix("created ") for line in done.stdout.splitlines())
    assert created == sorted(
        str(root / d / f"0005.add-priority{s}") for d in DIALECTS for s in (".sql", ".rollback.sql")
    )
    ok = rawrepo("migrate", "check", "--migrations-dir", str(root))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok:")

    (root / "postgresql" / "0005.add-priority.rollback.sql").unlink()
    bad = rawrepo("migrate", "check", "--migrations-dir", str(root))
    assert bad.returncode == 1
    assert "error: " in bad.stderr
    assert "0005.add-priority.sql: has no 0005.add-priority.rollback.sql" in bad.stderr


def test_new_with_a_bad_name_is_an_error(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    done = rawrepo("migrate", "new", "no spaces", "--migrations-dir", str(root))
    assert done.returncode == 1
    assert done.stderr.startswith("error: migration name must be")


def test_check_of_the_bundled_migrations_passes() -> None:
    done = rawrepo("migrate", "check", "--bundled", "--strict")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"oracle://app:{SECRET}@db/app", "unsupported scheme"),
        (f"postgresql://app:{SECRET}@127.0.0.1:1/app", "cannot connect to"),
        (f"mysql://app:{SECRET}@127.0.0.1:1/app", "cannot connect to"),
        ("sqlite+aiosqlite:///:memory:", "in-memory SQLite"),
    ],
)
def test_bad_urls_are_errors_without_the_password(url: str, message: str) -> None:
    done = rawrepo("migrate", "status", "--url", url)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_a_password_never_appears_in_output() -> None:
    # PostgreSQL here trusts local connections, so any password is accepted;
    # MySQL's root has none, so a password is refused.
    pg_server = backend_server_url("postgresql")
    pg_url = pg_server.replace("postgres@", f"postgres:{SECRET}@", 1)
    my_server = backend_server_url("mysql")
    my_url = my_server.replace("root@", f"root:{SECRET}@", 1)
    outputs = []
    for args in (
        ["status", "--url", pg_url],
        ["break-lock", "--url", pg_url],
        ["status", "--url", my_url],
        ["apply", "--bundled", "--url", my_url],
    ):
        done = rawrepo("migrate", *args)
        outputs.append(done.stdout + done.stderr)
    assert all(SECRET not in output for output in outputs)
    assert "applied" in outputs[0] or "pending" in outputs[0]
    assert "Access denied" in outputs[2]


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "apply"],
        ["migrate", "apply", "--bundled"],
        ["migrate", "status", "--bundled"],
        ["migrate", "rollback", "--bundled"],
        ["migrate", "break-lock"],
        ["sql", "check"],
        ["sql", "explain", "users.get_by_id"],
    ],
)
def test_without_url_or_database_url_nothing_is_created(tmp_path: Path, args: list[str]) -> None:
    done = rawrepo(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: no database given: pass --url URL or set DATABASE_URL")
    assert list(tmp_path.iterdir()) == []


def test_new_in_a_project_writes_its_migrations_folder_and_sql_takes_its_queries(
    tmp_path: Path,
) -> None:
    shipped = sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*"))
    done = rawrepo("migrate", "new", "create-orders", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    created = sorted(line.removeprefix("created ") for line in done.stdout.splitlines())
    assert created == sorted(
        f"migrations/{d}/0001.create-orders{s}" for d in DIALECTS for s in (".sql", ".rollback.sql")
    )
    assert sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*")) == shipped
    checked = rawrepo("migrate", "check", "--strict", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "ok: migrations is consistent\n"
    shutil.copytree(PROJECT_SQL, tmp_path / "sql")
    listed = rawrepo("sql", "list", cwd=tmp_path)  # ./sql over the bundled queries
    assert "orders.by_ids  (:ids)" in listed.stdout
    assert "users.get_by_id  (:id)" in listed.stdout


def test_new_in_a_rawrepo_checkout_leaves_the_bundled_schema_alone() -> None:
    shipped = sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*"))
    done = rawrepo("migrate", "new", "oops", cwd=ROOT)  # ./migrations is the bundled folder
    assert done.returncode == 1
    assert "bundled reference schema" in done.stderr
    assert sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*")) == shipped


# --- on every backend ------------------------------------------------------------------


async def test_a_projects_own_schema_is_the_default_and_the_bundled_one_only_on_request(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    """The path of a user building their own app: their ./migrations and ./sql."""
    url = await rawrepo_databases.create("rawrepo_cli")
    new = await arawrepo("migrate", "new", "create-orders", cwd=tmp_path)
    assert new.returncode == 0, new.stderr
    for dialect in DIALECTS:  # the user writes the table into the new files
        for path in (PROJECT / dialect).iterdir():
            shutil.copy(path, tmp_path / "migrations" / dialect / path.name)
    shutil.copytree(PROJECT_SQL, tmp_path / "sql")

    own = await arawrepo("migrate", "apply", "--url", url, cwd=tmp_path)
    assert own.returncode == 0, own.stderr
    assert applied_ids(own.stdout) == ["0001.create-orders"]
    tables = await table_names(url)
    assert "orders" in tables
    assert not {"users", "tasks"} & tables  # the reference schema is not applied unasked

    bundled = await arawrepo("migrate", "apply", "--bundled", "--url", url, cwd=tmp_path)
    assert applied_ids(bundled.stdout) == BUNDLED_IDS
    status = await arawrepo("migrate", "status", "--url", url, cwd=tmp_path)
    lines = status.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["applied", "0001.create-orders"],
        *[["applied", i] for i in BUNDLED_IDS],
    ]
    assert not lines[0].endswith("(not in this folder)")
    assert all(line.endswith("(not in this folder)") for line in lines[1:])

    ids = [uuid.uuid4() for _ in range(3)]
    async with Database(url, sql_dir=tmp_path / "sql") as db, db.session() as session:
        for n, order_id in enumerate(ids):
            await session.execute("orders.insert", id=order_id, user_id=None, total=Decimal(n))
        rows = await session.fetch_all("orders.by_ids", ids=ids[1:])
    assert [uuid.UUID(str(r["id"])) for r in rows] == [ids[2], ids[1]]

    undone = await arawrepo("migrate", "rollback", "--all", "--url", url, cwd=tmp_path)
    assert undone.returncode == 0, undone.stderr
    assert [line.split()[2] for line in undone.stdout.splitlines()] == ["0001.create-orders"]
    tables = await table_names(url)
    assert "orders" not in tables
    assert {"users", "tasks"} <= tables  # another folder's migrations are left alone


async def test_apply_prints_each_migration_then_nothing_to_apply(
    rawrepo_databases: DatabaseFactory,
) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    first = await arawrepo("migrate", "apply", "--bundled", "--url", url)
    assert first.returncode == 0, first.stderr
    assert applied_ids(first.stdout) == BUNDLED_IDS
    assert len(first.stdout.splitlines()) == len(BUNDLED_IDS)
    again = await arawrepo("migrate", "apply", "--bundled", "--url", url)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "nothing to apply\n"


async def test_database_url_from_the_environment(rawrepo_databases: DatabaseFactory) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    done = await arawrepo("migrate", "apply", "--bundled", env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert applied_ids(done.stdout) == BUNDLED_IDS


async def test_status_shows_applied_and_pending(rawrepo_databases: DatabaseFactory) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    before = await arawrepo("migrate", "status", "--bundled", "--url", url)
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines() == [f"pending  {i}" for i in BUNDLED_IDS]
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    await asyncio.to_thread(migrate.rollback, url, 1, bundled=True)
    after = await arawrepo("migrate", "status", "--bundled", "--url", url)
    lines = after.stdout.splitlines()
    assert re.fullmatch(
        r"applied  0001\.create-users +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[0]
    ), lines
    assert lines[1].startswith("applied  0002.create-tasks  ")
    assert lines[2].startswith("applied  0003.fold-task-titles  ")
    assert lines[3] == "pending  0004.task-idempotency-keys"


async def test_rollback_latest_count_and_all(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    root = migrations_with(tmp_path)
    migrate.new("third", migrations_dir=root)
    common = ["--url", url, "--migrations-dir", str(root)]
    await asyncio.to_thread(migrate.apply, url, migrations_dir=root)

    latest = await arawrepo("migrate", "rollback", *common)
    assert latest.returncode == 0, latest.stderr
    assert re.fullmatch(r"rolled back 0005\.third \(\d+\.\d ms\)\n", latest.stdout)

    await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    two = await arawrepo("migrate", "rollback", "--count", "2", *common)
    assert [line.split()[2] for line in two.stdout.splitlines()] == [
        "0005.third",
        "0004.task-idempotency-keys",
    ]
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [s.applied for s in status] == [True, True, True, False, False]

    everything = await arawrepo("migrate", "rollback", "--all", *common)
    assert [line.split()[2] for line in everything.stdout.splitlines()] == [
        "0003.fold-task-titles",
        "0002.create-tasks",
        "0001.create-users",
    ]
    nothing = await arawrepo("migrate", "rollback", "--all", *common)
    assert nothing.stdout == "nothing to roll back\n"


async def test_two_runs_started_at_once_apply_each_migration_once(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    # 0005.slow takes about a second, so the runs overlap and one waits for the lock.
    root = migrations_with(tmp_path, "slow")
    command = [sys.executable, "-m", "rawrepo", "migrate", "apply"]
    command += ["--url", url, "--migrations-dir", str(root)]
    procs = [
        await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [
        (out.decode(), err.decode())
        for out, err in await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in procs)), timeout=120
        )
    ]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    applied = applied_ids(outputs[0][0]) + applied_ids(outputs[1][0])
    assert sorted(applied) == [*BUNDLED_IDS, "0005.slow"]
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [(s.id, s.applied) for s in status] == [(i, True) for i in [*BUNDLED_IDS, "0005.slow"]]


async def test_a_failing_migration_exits_1_naming_the_file_and_the_error(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    root = migrations_with(tmp_path, "failing")
    done = await arawrepo("migrate", "apply", "--url", url, "--migrations-dir", str(root))
    assert done.returncode == 1
    assert applied_ids(done.stdout) == BUNDLED_IDS
    assert done.stderr.startswith("error: applying 0005.half-done failed")
    assert str(root / rawrepo_databases.backend / "0005.half-done.sql") in done.stderr
    assert "no_such_table" in done.stderr
    assert "Traceback" not in done.stderr
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [s.applied for s in status] == [True, True, True, True, False]


async def test_a_stale_lock_is_reported_and_break_lock_clears_it(
    rawrepo_databases: DatabaseFactory,
) -> None:
    url = await rawrepo_databases.create("rawrepo_cli")
    crash = textwrap.dedent(
        f"""
        import os, yoyo
        backend = yoyo.get_backend({migrate.yoyo_url(url)!r})
        with backend.lock():
            os._exit(3)
        """
    )
    crashed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", crash], capture_output=True, timeout=60
    )
    assert crashed.returncode == 3, crashed.stderr

    blocked = await arawrepo("migrate", "apply", "--bundled", "--url", url, "--lock-timeout", "0.5")
    assert blocked.returncode == 1
    assert "error: the migration lock" in blocked.stderr
    assert "held by process" in blocked.stderr
    assert "rawrepo migrate break-lock --url" in blocked.stderr

    broken = await arawrepo("migrate", "break-lock", "--url", url)
    assert broken.returncode == 0, broken.stderr
    done = await arawrepo("migrate", "apply", "--bundled", "--url", url, "--lock-timeout", "1")
    assert done.returncode == 0, done.stderr
    assert applied_ids(done.stdout) == BUNDLED_IDS
