"""The review of PostgreSQL migrations for live tables (rawrepo/migration_review.py, run by
``rawrepo migrate check``): each rule on the SQL text, and on a real PostgreSQL server
that the statements it flags do lock, scan or rewrite the table, and that the ones it
lets through do not."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import Database, DatabaseError, migrate
from rawrepo.errors import MigrationError
from rawrepo.migration_review import RULES, review_file, review_sql
from rawrepo.testing import DatabaseFactory

HERE = Path(__file__).parent
REVIEW_SQL = HERE / "sql_review"
CASES = REVIEW_SQL / "cases"
REVIEW_MIGRATIONS = HERE / "sql_migrate" / "review"
LOCK = "missing-lock-timeout"


def rules(sql: str) -> set[str]:
    return {w.rule for w in review_sql(sql, Path("0002.change.sql"))}


# --- each rule on the text -------------------------------------------------------------

TEXT_CASES: list[tuple[str, str, set[str]]] = [
    ("index", "CREATE INDEX ix ON users (email);", {"create-index-locks-writes", LOCK}),
    (
        "unique index, qualified",
        "SET lock_timeout = '5s';\nCREATE UNIQUE INDEX ix ON public.users (email);",
        {"create-index-locks-writes"},
    ),
    (
        "concurrently in a transaction",
        "CREATE INDEX CONCURRENTLY ix ON users (e);",
        {"concurrently-in-transaction"},
    ),
    (
        "concurrently, non-transactional",
        "-- transactional: false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON users (e);",
        set(),
    ),
    (
        "index on a table of this migration",
        "CREATE TABLE t (id int);\nCREATE INDEX ix ON t (id);",
        set(),
    ),
    (
        "volatile default",
        "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        {"volatile-default-rewrite", LOCK},
    ),
    (
        "clock_timestamp default",
        "SET LOCAL lock_timeout TO '2s'; ALTER TABLE users ADD at timestamptz"
        " DEFAULT clock_timestamp() NOT NULL;",
        {"volatile-default-rewrite"},
    ),
    (
        "serial",
        "ALTER TABLE ONLY users ADD COLUMN n bigserial;",
        {"volatile-default-rewrite", LOCK},
    ),
    (
        "identity",
        "ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;",
        {"volatile-default-rewrite", LOCK},
    ),
    (
        "stored generated",
        "ALTER TABLE users ADD COLUMN l int GENERATED ALWAYS AS (length(username)) STORED;",
        {"volatile-default-rewrite", LOCK},
    ),
    (
        "a function rawrepo cannot judge",
        "ALTER TABLE users ADD COLUMN c int DEFAULT my_counter();",
        {"volatile-default-rewrite", LOCK},
    ),
    ("constant default", "ALTER TABLE users ADD COLUMN f boolean NOT NULL DEFAULT false;", {LOCK}),
    (
        "stable default",
        "ALTER TABLE users ADD COLUMN seen timestamptz NOT NULL DEFAULT now();",
        {LOCK},
    ),
    (
        "not null without default",
        "ALTER TABLE users ADD COLUMN x int NOT NULL;",
        {"not-null-without-default", LOCK},
    ),
    ("type", "ALTER TABLE users ALTER COLUMN email TYPE text;", {"alter-type-rewrite", LOCK}),
    (
        "set data type",
        "ALTER TABLE users ALTER email SET DATA TYPE text;",
        {"alter-type-rewrite", LOCK},
    ),
    (
        "set not null",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        {"set-not-null-scan", LOCK},
    ),
    (
        "check",
        "ALTER TABLE users ADD CONSTRAINT ck CHECK (length(email) > 3);",
        {"constraint-not-valid", LOCK},
    ),
    (
        "foreign key",
        "ALTER TABLE tasks ADD FOREIGN KEY (user_id) REFERENCES users (id);",
        {"constraint-not-valid", LOCK},
    ),
    ("check not valid", "ALTER TABLE users ADD CONSTRAINT ck CHECK (x > 0) NOT VALID;", {LOCK}),
    ("validate constraint", "ALTER TABLE users VALIDATE CONSTRAINT ck;", set()),
    (
        "unique",
        "ALTER TABLE users ADD CONSTRAINT uq UNIQUE (email);",
        {"unique-without-index", LOCK},
    ),
    ("unique using index", "ALTER TABLE users ADD CONSTRAINT uq UNIQUE USING INDEX ix;", {LOCK}),
    ("primary key", "ALTER TABLE t2 ADD PRIMARY KEY (id);", {"unique-without-index", LOCK}),
    (
        "several actions",
        "ALTER TABLE users ADD COLUMN a int, ALTER COLUMN email TYPE text;",
        {"alter-type-rewrite", LOCK},
    ),
    ("vacuum full", "VACUUM FULL users;", {"table-rewrite"}),
    ("cluster", "CLUSTER users USING ix;", {"table-rewrite"}),
    ("set tablespace", "ALTER TABLE users SET TABLESPACE fast;", {"table-rewrite", LOCK}),
    ("reindex", "REINDEX TABLE users;", {"reindex-locks"}),
    ("drop table", "DROP TABLE IF EXISTS old_users;", {LOCK}),
    ("truncate", "TRUNCATE TABLE users;", {LOCK}),
    ("drop index", "DROP INDEX ix_users_email;", {LOCK}),
    (
        "a foreign key to an existing table",
        "CREATE TABLE t (u uuid REFERENCES users (id));",
        {LOCK},
    ),
    (
        "trigger",
        "CREATE TRIGGER tr BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION f();",
        {LOCK},
    ),
    ("lock_timeout 0 is none", "SET lock_timeout = 0;\nALTER TABLE users ADD x int;", {LOCK}),
    (
        "words in strings, comments and bodies",
        "SET lock_timeout = '5s';\n"
        "COMMENT ON TABLE users IS 'CREATE INDEX x ON users (a)'; -- ALTER TABLE users ...\n"
        "CREATE FUNCTION f() RETURNS void AS $$ ALTER TABLE users ADD c int DEFAULT random() $$"
        " LANGUAGE sql;",
        set(),
    ),
    (
        "acknowledged",
        "-- rawrepo: allow create-index-locks-writes, missing-lock-timeout\n"
        "CREATE INDEX ix ON users (email);",
        set(),
    ),
    ("an unknown rule to allow", "-- rawrepo: allow no-such-rule\nSELECT 1;", {"unknown-rule"}),
]


@pytest.mark.parametrize(
    ("sql", "expected"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_each_rule_on_the_sql_text(sql: str, expected: set[str]) -> None:
    assert rules(sql) == expected


def test_every_rule_is_shown_by_a_case() -> None:
    shown = set().union(*(case[2] for case in TEXT_CASES))
    assert set(RULES) <= shown


def test_a_warning_names_the_file_the_line_and_the_safe_way() -> None:
    sql = "-- Adds an index.\nSET lock_timeout = '5s';\n\nCREATE INDEX ix\n  ON users (email);\n"
    (warning,) = review_sql(sql, Path("migrations/postgresql/0003.ix.sql"))
    assert warning.line == 4
    assert str(warning).startswith("migrations/postgresql/0003.ix.sql:4: CREATE INDEX on the")
    assert "CREATE INDEX CONCURRENTLY" in str(warning)
    assert str(warning).endswith("[create-index-locks-writes]")


def test_only_the_postgresql_forward_migrations_are_reviewed(tmp_path: Path) -> None:
    root = tmp_path / "migrations"
    shutil.copytree(migrate.BUNDLED_MIGRATIONS_DIR, root)
    assert migrate.review(root) == []
    for dialect in ("postgresql", "mysql", "sqlite"):
        for suffix in (".sql", ".rollback.sql"):
            (root / dialect / f"0005.index{suffix}").write_text("CREATE INDEX ix ON users (email);")
    found = migrate.review(root)
    assert {(w.path.name, w.rule) for w in found} == {
        ("0005.index.sql", "create-index-locks-writes"),
        ("0005.index.sql", LOCK),
    }
    assert all(w.path.parent.name == "postgresql" for w in found)


def test_migrate_check_prints_the_warnings_and_fails_on_them_only_when_strict(
    tmp_path: Path,
) -> None:
    root = tmp_path / "migrations"
    shutil.copytree(migrate.BUNDLED_MIGRATIONS_DIR, root)
    for dialect in ("postgresql", "mysql", "sqlite"):
        for suffix in (".sql", ".rollback.sql"):
            shutil.copy(CASES / "alter_type.sql", root / dialect / f"0005.wider-n{suffix}")

    def check(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rawrepo", "migrate", "check", "--migrations-dir"]
        return subprocess.run([*command, str(root), *extra], capture_output=True, text=True)

    done = check()
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{root} is consistent, with 2 warning(s) about live tables\n"
    lines = done.stderr.splitlines()
    assert len(lines) == 2
    assert all(
        line.startswith(f"warning: {root / 'postgresql'}/0005.wider-n.sql:2: ") for line in lines
    )
    assert {line.rsplit("[", 1)[1] for line in lines} == {"alter-type-rewrite]", f"{LOCK}]"}
    assert check("--strict").returncode == 1


# --- on a real server: what each flagged statement does to a table with rows ------------


@dataclass
class Outcome:
    """What one statement did inside a transaction (rolled back afterwards)."""

    error: DatabaseError | None
    rewrote: bool
    locks: set[str]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def review_url(rawrepo_databases: DatabaseFactory) -> str:
    """A PostgreSQL database with review_items (1,000 rows; row 1 has n = 0, no note)."""
    url = await rawrepo_databases.create("rawrepo_review")
    await asyncio.to_thread(migrate.apply, url, migrations_dir=REVIEW_MIGRATIONS / "base")
    return url


@pytest_asyncio.fixture(loop_scope="session")
async def review_db(review_url: str) -> AsyncIterator[Database]:
    async with Database(review_url, sql_dir=REVIEW_SQL) as db:
        yield db


class _RolledBack(Exception):
    pass


async def run_case(db: Database, case: str) -> Outcome:
    async with db.session() as session:
        before = await session.fetch_value("review.relfilenode", table="review_items")
    outcome = Outcome(None, False, set())
    try:
        async with db.session() as session:
            try:
                await session.execute(f"cases.{case}")
            except DatabaseError as exc:
                outcome.error = exc
                raise _RolledBack from exc
            after = await session.fetch_value("review.relfilenode", table="review_items")
            outcome.rewrote = after != before
            rows = await session.fetch_all("review.table_locks", table="review_items")
            outcome.locks = {row["mode"] for row in rows}
            raise _RolledBack
    except _RolledBack:
        pass
    return outcome


# case, the rules it gets, whether the server rewrote the table, the lock it took, and
# whether it failed on the existing rows (so it read them all under that lock)
SERVER_CASES = [
    (
        "add_volatile_default",
        {"volatile-default-rewrite", LOCK},
        True,
        "AccessExclusiveLock",
        False,
    ),
    ("add_serial", {"volatile-default-rewrite", LOCK}, True, "AccessExclusiveLock", False),
    ("alter_type", {"alter-type-rewrite", LOCK}, True, "AccessExclusiveLock", False),
    ("add_stable_default", {LOCK}, False, "AccessExclusiveLock", False),
    ("add_constant_default", {LOCK}, False, "AccessExclusiveLock", False),
    ("create_index", {"create-index-locks-writes", LOCK}, False, "ShareLock", False),
    ("add_unique", {"unique-without-index", LOCK}, False, "AccessExclusiveLock", False),
    ("add_check", {"constraint-not-valid", LOCK}, None, None, True),
    ("add_check_not_valid", {LOCK}, False, "AccessExclusiveLock", False),
    ("set_not_null", {"set-not-null-scan", LOCK}, None, None, True),
]


@pytest.mark.rawrepo_backends("postgresql")
@pytest.mark.parametrize(
    ("case", "expected", "rewrites", "lock", "reads_rows"),
    SERVER_CASES,
    ids=[c[0] for c in SERVER_CASES],
)
async def test_what_the_server_does_matches_the_review(
    review_db: Database,
    case: str,
    expected: set[str],
    rewrites: bool | None,
    lock: str | None,
    reads_rows: bool,
) -> None:
    assert {w.rule for w in review_file(CASES / f"{case}.sql")} == expected
    outcome = await run_case(review_db, case)
    if reads_rows:
        # Row 1 breaks the new rule: the statement read every row (under its lock) to find it.
        assert outcome.error is not None
        return
    assert outcome.error is None, outcome.error
    assert outcome.rewrote is rewrites
    assert lock in outcome.locks  # every one blocks writes (ShareLock) or everything


def copy_migrations(tmp_path: Path, case: str) -> Path:
    root = tmp_path / "migrations"
    shutil.copytree(REVIEW_MIGRATIONS / "base", root)
    shutil.copytree(REVIEW_MIGRATIONS / case, root, dirs_exist_ok=True)
    return root


@pytest.mark.rawrepo_backends("postgresql")
async def test_create_index_concurrently_needs_a_non_transactional_migration(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await rawrepo_databases.create("rawrepo_review")
    wrong = copy_migrations(tmp_path / "wrong", "cic_in_transaction")
    assert [w.rule for w in migrate.review(wrong)] == ["concurrently-in-transaction"]
    with pytest.raises(MigrationError, match="cannot run inside a transaction block"):
        await asyncio.to_thread(migrate.apply, url, migrations_dir=wrong)

    right = copy_migrations(tmp_path / "right", "cic")
    assert migrate.review(right) == []
    applied = await asyncio.to_thread(migrate.apply, url, migrations_dir=right)
    assert [r.id for r in applied] == ["0002.index-n"]
    async with Database(url, sql_dir=REVIEW_SQL) as db, db.session() as session:
        assert await session.fetch_value("review.index_valid", name="ix_review_items_n") is True
    undone = await asyncio.to_thread(migrate.rollback, url, 1, migrations_dir=right)
    assert [r.id for r in undone] == ["0002.index-n"]


@pytest.mark.rawrepo_backends("postgresql")
async def test_lock_timeout_makes_a_blocked_migration_give_up_instead_of_queueing(
    rawrepo_databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await rawrepo_databases.create("rawrepo_review")
    root = copy_migrations(tmp_path, "lock_timeout")
    assert migrate.review(root) == []  # SET lock_timeout comes first
    await asyncio.to_thread(migrate.apply, url, migrations_dir=REVIEW_MIGRATIONS / "base")
    async with Database(url, sql_dir=REVIEW_SQL) as db:
        async with db.session() as busy:  # a transaction that holds review_items
            await busy.execute("review.touch_row", id=1)
            with pytest.raises(MigrationError, match="lock timeout"):
                await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
        applied = await asyncio.to_thread(migrate.apply, url, migrations_dir=root)
    assert [r.id for r in applied] == ["0002.add-extra"]
