"""A non-editable install ships sql/ and migrations/ inside the package, so the
library works from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import asyncio, sys
import rawrepo
from rawrepo import Database, migrate
from rawrepo.models import UserCreate
from rawrepo.services import UserService

assert rawrepo.__file__.startswith(sys.argv[1]), rawrepo.__file__
url = "sqlite+aiosqlite:///app.db"
applied = migrate.apply(url, bundled=True)

async def main():
    async with Database(url) as db, db.create_session() as session:
        user = await UserService().create_user(session, UserCreate(username="packaged"))
    print(len(applied), len(db.queries), user.username)

asyncio.run(main())
"""


def test_the_wheel_ships_queries_and_migrations_and_works_from_elsewhere(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("rawrepo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "rawrepo/py.typed",
        "rawrepo/sql/users/get_by_username.sql",
        "rawrepo/sql/tasks/search_by_title.postgresql.sql",
        "rawrepo/migrations/postgresql/0001.create-users.sql",
        "rawrepo/migrations/mysql/0002.create-tasks.rollback.sql",
        "rawrepo/migrations/sqlite/0002.create-tasks.sql",
    ):
        assert expected in names, expected

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SQL_"))}
    env["PYTHONPATH"] = str(target)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(target)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    applied, queries, username = done.stdout.split()
    assert int(applied) >= 2 and int(queries) >= 20 and username == "packaged"
    assert (workdir / "app.db").exists()

    # `rawrepo migrate new` writes into the project (./migrations), never into the package.
    installed = target / "rawrepo" / "migrations"
    shipped = sorted(installed.rglob("*"))

    def rawrepo(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rawrepo", "migrate", "new", *args]
        return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)

    for refused in (rawrepo("--bundled", "x"), rawrepo("--migrations-dir", str(installed), "x")):
        assert refused.returncode == 1
        assert "inside an installed package" in refused.stderr
    made = rawrepo("create-orders")
    assert made.returncode == 0, made.stderr
    for dialect in ("postgresql", "mysql", "sqlite"):
        assert (workdir / "migrations" / dialect / "0001.create-orders.sql").is_file()
    assert sorted(installed.rglob("*")) == shipped
