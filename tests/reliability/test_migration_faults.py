"""Migrations under faults, on every backend: a migration failing midway, ``rawrepo
migrate apply`` killed with SIGKILL in the middle of a migration, and the stale lock
that the killed run leaves behind."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rawrepo import Database, migrate
from rawrepo.errors import MigrationError
from rawrepo.testing import DatabaseFactory

from .servers import MIGRATIONS_DIR, SQL_DIR

# Whether a failed migration's completed statements vanish with its transaction.
# MySQL commits DDL statement by statement; only a paired rollback statement undoes one.
TRANSACTIONAL_DDL = {"postgresql": True, "mysql": False, "sqlite": True}


def migrations(tmp_path: Path, *sets: str) -> Path:
    """A migrations folder made of the named sets under tests/sql_reliability/migrations."""
    root = tmp_path / "migrations"
    for name in sets:
        shutil.copytree(MIGRATIONS_DIR / name, root, dirs_exist_ok=True)
    return root


async def tables(url: str) -> set[str]:
    async with Database(url, sql_dir=SQL_DIR) as db, db.session() as session:
        return {str(r["name"]).lower() for r in await session.fetch_all("rel.table_names")}


async def applied_counts(url: str) -> dict[str, int]:
    async with Database(url, sql_dir=SQL_DIR) as db, db.session() as session:
        rows = await session.fetch_all("rel.applied_migrations")
    return {str(r["migration_id"]): int(r["times"]) for r in rows}


def rawrepo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rawrepo", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        rawrepo_command(*args),
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("paired_rollback", [True, False], ids=["paired-rollback", "no-rollback"])
async def test_a_migration_failing_midway_is_not_recorded_and_its_fixed_rerun_applies_once(
    rawrepo_databases: DatabaseFactory, tmp_path: Path, paired_rollback: bool
) -> None:
    url = await rawrepo_databases.create("rel")
    root = migrations(tmp_path, "base", "half")
    dialect_dir = root / rawrepo_databases.backend
    if not paired_rollback:
        (dialect_dir / "0002.rel-half.rollback.sql").write_text("-- nothing undone\nSELECT 1;\n")

    with pytest.raises(MigrationError) as info:
        await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    assert str(dialect_dir / "0002.rel-half.sql") in str(info.value)
    assert "rel_no_such_table" in str(info.value)

    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [(s.id, s.applied) for s in status] == [
        ("0001.rel-first", True),
        ("0002.rel-half", False),
    ]
    left = await tables(url) & {"rel_half_a", "rel_half_b"}
    if paired_rollback or TRANSACTIONAL_DDL[rawrepo_databases.backend]:
        assert left == set()  # nothing of the failed migration remains
    else:
        assert left == {"rel_half_a", "rel_half_b"}  # MySQL: committed DDL, nothing pairs it

    shutil.copytree(MIGRATIONS_DIR / "half_fixed", root, dirs_exist_ok=True)
    applied = await asyncio.to_thread(migrate.apply, url, migrations_dir=root, lock_timeout=2)
    assert [r.id for r in applied] == ["0002.rel-half"]
    assert await applied_counts(url) == {"0001.rel-first": 1, "0002.rel-half": 1}
    assert {"rel_first", "rel_half_a", "rel_half_b"} <= await tables(url)


async def test_apply_killed_midway_leaves_a_lock_that_is_reported_cleared_and_rerun_applies_once(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await rawrepo_databases.create("rel")
    root = migrations(tmp_path, "base", "slow")
    args = ("migrate", "apply", "--url", url, "--migrations-dir", str(root))

    # 1. A run that is killed (SIGKILL: no cleanup at all) while 0002 is running.
    child = await asyncio.create_subprocess_exec(
        *rawrepo_command(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        first = (await asyncio.wait_for(child.stdout.readline(), timeout=60)).decode()
        assert first.startswith("applied 0001.rel-first"), first
        await asyncio.sleep(0.3)  # 0002 is now running (it takes about 1.5 s)
        assert child.returncode is None, "the run ended before it could be killed"
    finally:
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), timeout=30)
    assert child.returncode == -signal.SIGKILL
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [(s.id, s.applied) for s in status] == [
        ("0001.rel-first", True),
        ("0002.rel-slow", False),
    ]

    # 2. The next run finds the dead run's lock, says so, and names the command that clears it.
    start = time.monotonic()
    blocked = await asyncio.to_thread(run, *args, "--lock-timeout", "1")
    assert time.monotonic() - start < 20
    assert blocked.returncode == 1
    assert f"held by process {child.pid}" in blocked.stderr
    found = re.search(
        r"clear the lock with: (rawrepo migrate break-lock(?: --url '[^']*')?)", blocked.stderr
    )
    assert found, blocked.stderr
    command = shlex.split(found.group(1))
    assert command[:3] == ["rawrepo", "migrate", "break-lock"]

    # 3. That command clears it, and the rerun applies what is missing, once.
    cleared = await asyncio.to_thread(run, *command[1:])
    assert cleared.returncode == 0, cleared.stderr
    assert "migration lock removed" in cleared.stdout
    rerun = await asyncio.to_thread(run, *args, "--lock-timeout", "10")
    assert rerun.returncode == 0, rerun.stderr
    assert re.findall(r"^applied (\S+)", rerun.stdout, re.M) == ["0002.rel-slow"], rerun.stdout
    assert await applied_counts(url) == {"0001.rel-first": 1, "0002.rel-slow": 1}
    again = await asyncio.to_thread(run, *args)
    assert (again.returncode, again.stdout.strip()) == (0, "nothing to apply")
