"""Migrations through the Python API (rawrepo/migrate.py and the bundled SQL), on every backend."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rawrepo import migrate
from rawrepo.config import DIALECTS
from rawrepo.database import Database
from rawrepo.errors import (
    CheckViolation,
    ConfigurationError,
    ForeignKeyViolation,
    MigrationError,
    NotNullViolation,
    UniqueViolation,
)
from rawrepo.models import TaskCreate
from rawrepo.repositories import TaskRepository
from rawrepo.services import TaskService
from rawrepo.testing import DatabaseFactory, backend_server_url
from tests.migration_helpers import QUERIES, migrations_with, table_names

HERE = Path(__file__).parent
ROOT = HERE.parent
BUNDLED_IDS = [
    "0001.create-users",
    "0002.create-tasks",
    "0003.fold-task-titles",
    "0004.task-idempotency-keys",
]
SCHEMA_INDEXES = {
    "uq_users_username",
    "ix_users_created_at",
    "ix_tasks_user_id_status",
    "ix_tasks_user_id_created_at",
    "ix_tasks_status_created_at",
    "ix_tasks_created_at",
    "uq_tasks_user_id_idempotency_key",
}
# Whether a failed migration's completed DDL is undone by the transaction itself.
TRANSACTIONAL_DDL = {"postgresql": True, "sqlite": True, "mysql": False}
SECRET = "S3cret-Pa55word"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)


async def index_names(url: str) -> set[str]:
    async with Database(url, sql_dir=QUERIES) as db, db.session() as session:
        return {str(row["name"]) for row in await session.fetch_all("schema.index_names")}


async def fresh(factory: DatabaseFactory) -> str:
    return await factory.create("rawrepo_migrate")


# --- URL translation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://u:p@db:5433/app", "postgresql+psycopg://u:p@db:5433/app"),
        ("postgresql://u@db/app", "postgresql+psycopg://u@db:5432/app"),
        ("postgres://u:p@db/app", "postgresql+psycopg://u:p@db:5432/app"),
        ("mysql+aiomysql://u:p@db:3307/app", "mysql://u:p@db:3307/app"),
        ("mysql://u@db/app", "mysql://u@db:3306/app"),
        ("sqlite+aiosqlite:///data/app.db", "sqlite:///data/app.db"),
        ("sqlite:///data/app.db", "sqlite:///data/app.db"),
        ("sqlite+aiosqlite:////abs/app.db", "sqlite:////abs/app.db"),
    ],
)
def test_yoyo_url_translates_application_urls(url: str, expected: str) -> None:
    assert migrate.yoyo_url(url) == expected


def test_yoyo_url_keeps_special_characters_in_credentials() -> None:
    from yoyo.connections import parse_uri

    translated = migrate.yoyo_url("postgresql+asyncpg://us%40er:p%40ss%3Aw%2Fd@db/app")
    parsed = parse_uri(translated)
    assert (parsed.username, parsed.password, parsed.database) == ("us@er", "p@ss:w/d", "app")


def test_yoyo_url_maps_postgresql_options_for_psycopg() -> None:
    translated = migrate.yoyo_url(
        "postgresql://u@db/app?ssl=require&statement_cache_size=0&application_name=x"
    )
    assert translated == "postgresql+psycopg://u@db:5432/app?application_name=x&sslmode=require"


def test_yoyo_url_rejects_in_memory_sqlite() -> None:
    with pytest.raises(ConfigurationError, match="in-memory SQLite"):
        migrate.yoyo_url("sqlite+aiosqlite:///:memory:")


def test_yoyo_url_rejects_an_unsupported_scheme_without_the_password() -> None:
    with pytest.raises(ConfigurationError, match="unsupported scheme") as info:
        migrate.yoyo_url(f"oracle://u:{SECRET}@db/app")
    assert SECRET not in str(info.value)


def test_yoyo_url_needs_a_mysql_database() -> None:
    with pytest.raises(ConfigurationError, match="must name a database"):
        migrate.yoyo_url("mysql://root@db")


# --- folders: new and check ------------------------------------------------------------


def test_bundled_migrations_pass_check() -> None:
    assert migrate.check() == []
    for dialect in DIALECTS:
        names = sorted(p.name for p in (migrate.BUNDLED_MIGRATIONS_DIR / dialect).iterdir())
        assert names == [
            "0001.create-users.rollback.sql",
            "0001.create-users.sql",
            "0002.create-tasks.rollback.sql",
            "0002.create-tasks.sql",
            "0003.fold-task-titles.rollback.sql",
            "0003.fold-task-titles.sql",
            "0004.task-idempotency-keys.rollback.sql",
            "0004.task-idempotency-keys.sql",
        ]


def test_new_creates_the_next_number_in_every_dialect(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    created = migrate.new("add-task-priority", migrations_dir=root)
    assert sorted(created) == sorted(
        root / d / f"0005.add-task-priority{suffix}"
        for d in DIALECTS
        for suffix in (".sql", ".rollback.sql")
    )
    assert all(p.read_text().startswith("-- ") for p in created)
    assert migrate.check(root) == []
    again = migrate.new("second_one", migrations_dir=root)
    assert {p.name for p in again} == {"0006.second_one.sql", "0006.second_one.rollback.sql"}


@pytest.mark.parametrize("name", ["", "has space", "../escape", "dot.name", "-lead", "x" * 65])
def test_new_rejects_a_bad_name(tmp_path: Path, name: str) -> None:
    root = migrations_with(tmp_path)
    with pytest.raises(ValueError, match="migration name"):
        migrate.new(name, migrations_dir=root)
    assert migrate.check(root) == []
    assert len(list((root / "sqlite").iterdir())) == 2 * len(BUNDLED_IDS)


def test_check_accepts_post_apply_hooks_present_in_every_dialect(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    for dialect in DIALECTS:
        (root / dialect / "post-apply.sql").write_text("-- runs after every apply\n")
    assert migrate.check(root) == []
    (root / "mysql" / "post-apply.sql").unlink()
    assert migrate.check(root) == ["post-apply: in postgresql, sqlite but missing in mysql"]


def test_check_reports_a_missing_rollback(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    (root / "mysql" / "0002.create-tasks.rollback.sql").unlink()
    problems = migrate.check(root)
    assert len(problems) == 1
    assert "mysql" in problems[0]
    assert "0002.create-tasks.sql: has no 0002.create-tasks.rollback.sql" in problems[0]


def test_check_reports_ids_that_differ_between_dialects(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    for suffix in (".sql", ".rollback.sql"):
        (root / "sqlite" / f"0002.create-tasks{suffix}").rename(
            root / "sqlite" / f"0002.create-task{suffix}"
        )
    problems = migrate.check(root)
    assert "0002.create-task: in sqlite but missing in postgresql, mysql" in problems
    assert "0002.create-tasks: in postgresql, mysql but missing in sqlite" in problems


def test_check_reports_missing_folders_stray_files_and_reused_numbers(tmp_path: Path) -> None:
    root = migrations_with(tmp_path)
    shutil.rmtree(root / "mysql")
    (root / "sqlite" / "notes.sql").write_text("-- not a migration\n")
    (root / "sqlite" / "helper.py").write_text("# yoyo would run this\n")
    (root / "sqlite" / "README.md").write_text("ignored\n")
    for suffix in (".sql", ".rollback.sql"):
        for dialect in ("postgresql", "sqlite"):
            (root / dialect / f"0002.other{suffix}").write_text("-- x\n")
    problems = "\n".join(migrate.check(root))
    assert "mysql folder is missing" in problems
    assert "notes.sql: not a migration file" in problems
    assert "helper.py: not a migration file" in problems
    assert "README.md" not in problems
    assert "number 0002 is used by 0002.create-tasks, 0002.other" in problems
    assert migrate.check(tmp_path / "nowhere") == [
        f"{tmp_path / 'nowhere'}: migrations folder does not exist"
    ]


# --- whose schema: the project's ./migrations by default, the bundled one on request ---


def test_new_without_a_folder_creates_the_projects_own_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*"))
    created = migrate.new("create-orders")
    assert sorted(created) == sorted(
        Path("migrations") / d / f"0001.create-orders{suffix}"
        for d in DIALECTS
        for suffix in (".sql", ".rollback.sql")
    )
    assert all((tmp_path / p).is_file() for p in created)
    assert migrate.check() == []
    assert [p.name for p in migrate.new("add-total") if p.parent.name == "sqlite"] == [
        "0002.add-total.sql",
        "0002.add-total.rollback.sql",
    ]
    assert sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*")) == shipped


def test_new_never_writes_into_the_bundled_schema_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*"))
    with pytest.raises(MigrationError, match="bundled reference schema"):
        migrate.new("oops", migrations_dir=migrate.BUNDLED_MIGRATIONS_DIR)
    monkeypatch.chdir(ROOT)  # a rawrepo checkout: ./migrations is the bundled folder
    with pytest.raises(MigrationError, match="--migrations-dir PATH, or pass --bundled"):
        migrate.new("oops")
    assert sorted(migrate.BUNDLED_MIGRATIONS_DIR.rglob("*")) == shipped


def test_new_refuses_a_folder_inside_installed_packages(tmp_path: Path) -> None:
    installed = tmp_path / "lib" / "python3" / "site-packages" / "someapp" / "migrations"
    installed.mkdir(parents=True)
    with pytest.raises(MigrationError, match="inside an installed package"):
        migrate.new("oops", migrations_dir=installed)
    assert list(installed.iterdir()) == []


def test_apply_without_the_projects_folder_says_what_to_do_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "sqlite+aiosqlite:///data/app.db"
    for call in (migrate.apply, migrate.status, migrate.rollback):
        with pytest.raises(MigrationError) as info:
            call(url)
        message = str(info.value)
        assert f"no migrations folder migrations in {tmp_path}" in message
        assert "rawrepo migrate new NAME" in message
        assert "--bundled" in message
    assert list(tmp_path.iterdir()) == []
    assert "rawrepo migrate new NAME" in migrate.check()[0]


def test_a_folder_and_bundled_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        migrate.apply(
            f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", migrations_dir=tmp_path, bundled=True
        )


def test_new_postgresql_files_say_how_to_change_a_live_table(tmp_path: Path) -> None:
    from yoyo import read_migrations

    root = migrations_with(tmp_path)
    created = migrate.new("add-index", migrations_dir=root)
    forward = root / "postgresql" / "0005.add-index.sql"
    text = forward.read_text()
    for advice in ("SET lock_timeout", "CREATE INDEX CONCURRENTLY", '"-- transactional: false"'):
        assert advice in text
    assert "NOT VALID" in text and "VALIDATE CONSTRAINT" in text
    assert "ALGORITHM=INPLACE, LOCK=NONE" in (root / "mysql" / "0005.add-index.sql").read_text()
    assert all(p.read_text().startswith("-- ") for p in created)
    assert migrate.review(root) == []  # comments only: nothing to warn about

    def transactional() -> bool:
        (migration,) = [m for m in read_migrations(str(root / "postgresql")) if "0005" in m.id]
        migration.load()
        return bool(migration.use_transactions)

    # The advice itself is no yoyo directive; the line it names is.
    assert transactional() is True
    forward.write_text("-- transactional: false\n" + text)
    assert transactional() is False


# --- defaults and bad input ------------------------------------------------------------


def test_apply_uses_database_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nested" / "env.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    assert [r.id for r in migrate.apply(bundled=True)] == BUNDLED_IDS
    assert path.exists()
    assert all(s.applied for s in migrate.status(bundled=True))


def test_apply_defaults_to_data_app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    results = migrate.apply(bundled=True)
    assert [(r.id, r.dialect) for r in results] == [(i, "sqlite") for i in BUNDLED_IDS]
    assert (tmp_path / "data" / "app.db").is_file()


def test_status_of_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'absent' / 'x.db'}"
    assert [(s.id, s.applied) for s in migrate.status(url, bundled=True)] == [
        (i, False) for i in BUNDLED_IDS
    ]
    assert migrate.rollback(url, bundled=True) == []
    migrate.break_lock(url)
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("count", [0, -1, True, 1.5])
def test_rollback_rejects_a_bad_count(tmp_path: Path, count: object) -> None:
    with pytest.raises(ValueError, match="count must be a positive integer"):
        migrate.rollback(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", count, bundled=True)  # type: ignore[arg-type]


def test_a_missing_dialect_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no sqlite migrations folder"):
        migrate.apply(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", migrations_dir=tmp_path)


@pytest.mark.parametrize(
    "url",
    [f"postgresql://app:{SECRET}@127.0.0.1:1/app", f"mysql://app:{SECRET}@127.0.0.1:1/app"],
)
def test_an_unreachable_server_is_reported_without_the_password(url: str) -> None:
    with pytest.raises(MigrationError, match="cannot connect to") as info:
        migrate.apply(url, bundled=True)
    assert "app:***@127.0.0.1:1/app" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_password_the_server_rejects_is_not_in_the_error() -> None:
    server = backend_server_url("mysql")
    wrong = f"mysql://nobody_here:{SECRET}@" + server.split("@", 1)[1]
    with pytest.raises(MigrationError, match="Access denied") as info:
        migrate.status(wrong, bundled=True)
    assert SECRET not in str(info.value)


# --- on every backend ------------------------------------------------------------------


async def test_apply_creates_the_schema(rawrepo_databases: DatabaseFactory) -> None:
    url = await fresh(rawrepo_databases)
    assert not {"users", "tasks"} & await table_names(url)
    results = await asyncio.to_thread(migrate.apply, url, bundled=True)
    assert [r.id for r in results] == BUNDLED_IDS
    assert all(r.dialect == rawrepo_databases.backend and r.duration_s > 0 for r in results)
    assert {"users", "tasks", "_yoyo_migration"} <= await table_names(url)
    assert await index_names(url) >= SCHEMA_INDEXES


async def test_status_before_and_after_apply(rawrepo_databases: DatabaseFactory) -> None:
    url = await fresh(rawrepo_databases)
    before = await asyncio.to_thread(migrate.status, url, bundled=True)
    assert before == [migrate.MigrationStatus(i, False, None) for i in BUNDLED_IDS]
    started = datetime.now(UTC) - timedelta(seconds=2)  # MySQL stores whole seconds
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    after = await asyncio.to_thread(migrate.status, url, bundled=True)
    assert [(s.id, s.applied) for s in after] == [(i, True) for i in BUNDLED_IDS]
    for row in after:
        assert row.applied_at is not None
        assert started <= row.applied_at <= datetime.now(UTC) + timedelta(seconds=2)


async def test_apply_twice_applies_nothing_the_second_time(
    rawrepo_databases: DatabaseFactory,
) -> None:
    url = await fresh(rawrepo_databases)
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    first = await asyncio.to_thread(migrate.status, url, bundled=True)
    assert await asyncio.to_thread(migrate.apply, url, bundled=True) == []
    assert await asyncio.to_thread(migrate.status, url, bundled=True) == first


async def test_rollback_count_undoes_the_most_recent(
    rawrepo_databases: DatabaseFactory,
) -> None:
    url = await fresh(rawrepo_databases)
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    undone = await asyncio.to_thread(migrate.rollback, url, 3, bundled=True)
    assert [r.id for r in undone] == [
        "0004.task-idempotency-keys",
        "0003.fold-task-titles",
        "0002.create-tasks",
    ]
    status = await asyncio.to_thread(migrate.status, url, bundled=True)
    assert [(s.id, s.applied) for s in status] == [
        (BUNDLED_IDS[0], True),
        *[(i, False) for i in BUNDLED_IDS[1:]],
    ]
    tables = await table_names(url)
    assert "users" in tables
    assert "tasks" not in tables
    assert [r.id for r in await asyncio.to_thread(migrate.apply, url, bundled=True)] == BUNDLED_IDS[
        1:
    ]


async def test_rollback_all_undoes_every_migration(rawrepo_databases: DatabaseFactory) -> None:
    url = await fresh(rawrepo_databases)
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    undone = await asyncio.to_thread(migrate.rollback, url, bundled=True)
    assert [r.id for r in undone] == list(reversed(BUNDLED_IDS))
    assert not {"users", "tasks"} & await table_names(url)
    assert not any(s.applied for s in await asyncio.to_thread(migrate.status, url, bundled=True))
    assert await asyncio.to_thread(migrate.rollback, url, bundled=True) == []


async def test_a_new_migration_applies_and_rolls_back(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await fresh(rawrepo_databases)
    root = migrations_with(tmp_path)
    await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    migrate.new("empty-change", migrations_dir=root)
    applied = await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    assert [r.id for r in applied] == ["0005.empty-change"]
    undone = await asyncio.to_thread(migrate.rollback, url, 1, migrations_dir=root)
    assert [r.id for r in undone] == ["0005.empty-change"]


async def test_post_apply_hooks_run_after_migrations_are_applied(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await fresh(rawrepo_databases)
    root = migrations_with(tmp_path)
    for dialect in DIALECTS:
        (root / dialect / "post-apply.sql").write_text(
            "-- test hook\nCREATE TABLE IF NOT EXISTS hook_ran (id INTEGER);\n"
        )
    assert migrate.check(root) == []
    results = await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    assert [r.id for r in results] == BUNDLED_IDS
    assert "hook_ran" in await table_names(url)
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [s.id for s in status] == BUNDLED_IDS


async def test_a_failing_migration_names_its_file_and_the_database_message(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await fresh(rawrepo_databases)
    root = migrations_with(tmp_path, "failing_no_undo")
    with pytest.raises(MigrationError) as info:
        await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    message = str(info.value)
    assert str(root / rawrepo_databases.backend / "0005.half-done.sql") in message
    assert "no_such_table" in message
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert [(s.id, s.applied) for s in status] == [
        *[(i, True) for i in BUNDLED_IDS],
        ("0005.half-done", False),
    ]
    # PostgreSQL and SQLite undo the migration's completed CREATE TABLE with its
    # transaction; MySQL has already committed it (and this rollback file pairs no undo).
    left_behind = "half_done" in await table_names(url)
    assert left_behind is not TRANSACTIONAL_DDL[rawrepo_databases.backend]


async def test_a_failing_migration_is_undone_by_its_paired_rollback_on_every_backend(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await fresh(rawrepo_databases)
    root = migrations_with(tmp_path, "failing")
    with pytest.raises(MigrationError, match=r"applying 0005\.half-done failed"):
        await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    assert "half_done" not in await table_names(url)
    status = await asyncio.to_thread(migrate.status, url, migrations_dir=root)
    assert not status[-1].applied
    # The failed run released its lock: the next run starts at once.
    (root / rawrepo_databases.backend / "0005.half-done.sql").write_text(
        "-- fixed\nCREATE TABLE half_done (id INTEGER PRIMARY KEY);\n"
    )
    applied = await asyncio.to_thread(migrate.apply, url, migrations_dir=root, lock_timeout=2)
    assert [r.id for r in applied] == ["0005.half-done"]


def hold_lock_and_crash(url: str) -> int:
    """Take yoyo's lock in a child process that dies holding it; returns the dead pid."""
    code = textwrap.dedent(
        f"""
        import os, yoyo
        backend = yoyo.get_backend({migrate.yoyo_url(url)!r})
        with backend.lock():
            print(os.getpid(), flush=True)
            os._exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3, done.stderr
    return int(done.stdout.strip())


async def test_a_stale_lock_is_reported_with_the_break_lock_command(
    rawrepo_databases: DatabaseFactory,
) -> None:
    url = await fresh(rawrepo_databases)
    pid = await asyncio.to_thread(hold_lock_and_crash, url)
    with pytest.raises(MigrationError) as info:
        await asyncio.to_thread(migrate.apply, url, lock_timeout=0.5, bundled=True)
    message = str(info.value)
    assert f"held by process {pid}" in message
    assert "rawrepo migrate break-lock --url" in message
    assert not any(s.applied for s in await asyncio.to_thread(migrate.status, url, bundled=True))
    await asyncio.to_thread(migrate.break_lock, url)
    applied = await asyncio.to_thread(migrate.apply, url, lock_timeout=1, bundled=True)
    assert [r.id for r in applied] == BUNDLED_IDS


# --- the schema the migrations create ---------------------------------------------------


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


async def test_usernames_are_unique_ignoring_case(
    migrated_database_url: str, now: datetime
) -> None:
    async with Database(migrated_database_url, sql_dir=QUERIES) as db:
        async with db.session() as session:
            await session.execute("schema.insert_user", id=uuid.uuid4(), username="Alice", now=now)
        with pytest.raises(UniqueViolation):
            async with db.session() as session:
                await session.execute(
                    "schema.insert_user", id=uuid.uuid4(), username="alice", now=now
                )


async def test_idempotency_keys_migration_keeps_the_tasks_and_rolls_back(
    rawrepo_databases: DatabaseFactory, now: datetime
) -> None:
    url = await fresh(rawrepo_databases)
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    await asyncio.to_thread(migrate.rollback, url, 1, bundled=True)
    assert "uq_tasks_user_id_idempotency_key" not in await index_names(url)
    user_id = uuid.uuid4()
    async with Database(url, sql_dir=QUERIES) as db, db.session() as session:
        await session.execute("schema.insert_user", id=user_id, username=f"u{user_id}", now=now)
        for title in ("one", "two"):
            task = {"id": uuid.uuid4(), "user_id": user_id, "status": "pending", "now": now}
            await session.execute("schema.insert_task", title=title, **task)

    applied = await asyncio.to_thread(migrate.apply, url, bundled=True)
    assert [r.id for r in applied] == ["0004.task-idempotency-keys"]
    assert "uq_tasks_user_id_idempotency_key" in await index_names(url)
    async with Database(url) as db, db.session() as session:
        # The tasks stored before have no key (NULLs never collide), and a key works.
        stored = await TaskRepository().get_by_user(session, user_id)
        assert sorted((t.title, t.idempotency_key) for t in stored) == [
            ("one", None),
            ("two", None),
        ]
        data = TaskCreate(title="three", user_id=user_id, idempotency_key="k-1")
        first = await TaskService().create(session, data)
        assert await TaskService().create(session, data) == first

    undone = await asyncio.to_thread(migrate.rollback, url, 1, bundled=True)
    assert [r.id for r in undone] == ["0004.task-idempotency-keys"]
    assert "uq_tasks_user_id_idempotency_key" not in await index_names(url)
    async with Database(url, sql_dir=QUERIES) as db, db.session() as session:
        assert await session.fetch_value("schema.count_tasks", user_id=user_id) == 3


async def test_deleting_a_user_deletes_its_tasks(migrated_database_url: str, now: datetime) -> None:
    user_id = uuid.uuid4()
    async with Database(migrated_database_url, sql_dir=QUERIES) as db, db.session() as session:
        await session.execute("schema.insert_user", id=user_id, username=f"u{user_id}", now=now)
        for title in ("one", "two"):
            await session.execute(
                "schema.insert_task",
                id=uuid.uuid4(),
                user_id=user_id,
                title=title,
                status="pending",
                now=now,
            )
        assert await session.fetch_value("schema.count_tasks", user_id=user_id) == 2
        assert await session.execute("schema.delete_user", id=user_id) == 1
        assert await session.fetch_value("schema.count_tasks", user_id=user_id) == 0


async def test_a_task_written_without_its_folded_title_is_refused(
    migrated_database_url: str, now: datetime
) -> None:
    # The title search matches title_folded: a writer that leaves it out must fail
    # loudly, not store a task that no search finds.
    user_id = uuid.uuid4()
    async with Database(migrated_database_url, sql_dir=QUERIES) as db:
        async with db.session() as session:
            await session.execute("schema.insert_user", id=user_id, username=f"u{user_id}", now=now)
        with pytest.raises(NotNullViolation) as info:
            async with db.session() as session:
                await session.execute(
                    "schema.insert_task_unfolded",
                    id=uuid.uuid4(),
                    user_id=user_id,
                    title="t",
                    status="pending",
                    now=now,
                )
        assert "title_folded" in str(info.value)


async def test_tasks_need_an_existing_user_and_a_known_status(
    migrated_database_url: str, now: datetime
) -> None:
    user_id = uuid.uuid4()
    async with Database(migrated_database_url, sql_dir=QUERIES) as db:
        async with db.session() as session:
            await session.execute("schema.insert_user", id=user_id, username=f"u{user_id}", now=now)
        task = {"id": uuid.uuid4(), "title": "t", "now": now}
        with pytest.raises(ForeignKeyViolation):
            async with db.session() as session:
                await session.execute(
                    "schema.insert_task", user_id=uuid.uuid4(), status="pending", **task
                )
        with pytest.raises(CheckViolation):
            async with db.session() as session:
                await session.execute("schema.insert_task", user_id=user_id, status="bogus", **task)
