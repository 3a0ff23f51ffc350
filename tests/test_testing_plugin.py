"""The pytest plugin as a project built on rawrepo uses it: its own migrations, its own
queries and the per-test rollback session, in a pytest run of its own (pytester), on every
backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawrepo.testing import target_dialect
from tests.pytester_projects import INI

pytest_plugins = ["pytester"]

_URL_ENV = {"postgresql": "RAWREPO_TEST_POSTGRESQL_URL", "mysql": "RAWREPO_TEST_MYSQL_URL"}

# The same table in each dialect's folder; yoyo reads one folder per dialect.
_MIGRATION = """\
-- Notes: the one table of the example project.
CREATE TABLE notes (
    id    INTEGER NOT NULL PRIMARY KEY,
    body  VARCHAR(200) NOT NULL
)
"""

_QUERIES = {
    "notes/add.sql": "-- Add a note.\nINSERT INTO notes (id, body) VALUES (:id, :body)\n",
    "notes/count.sql": "-- How many notes there are.\nSELECT COUNT(*) FROM notes\n",
    "notes/bodies.sql": "-- Every note's body, by id.\nSELECT body FROM notes ORDER BY id\n",
}

_CONFTEST_WITH_FIXTURES = """\
from pathlib import Path

import pytest

pytest_plugins = ["rawrepo.testing"]

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def rawrepo_migrations_dir() -> Path:
    return HERE / "db" / "migrations"


@pytest.fixture(scope="session")
def rawrepo_sql_dir() -> list[Path]:
    return [HERE / "db" / "sql"]
"""

_TESTS = """\
import pytest

from rawrepo import migrate
from rawrepo.errors import UniqueViolation

MIGRATIONS = __import__("pathlib").Path(__file__).parent / "db" / "migrations"


def test_the_project_migrations_replace_the_bundled_ones(migrated_database_url):
    mine = migrate.status(migrated_database_url, migrations_dir=MIGRATIONS)
    assert [(m.id, m.applied) for m in mine] == [("0001.create-notes", True)]
    bundled = {m.id: m.applied for m in migrate.status(migrated_database_url, bundled=True)}
    assert bundled["0001.create-users"] is False


@pytest.mark.parametrize("body", ["first", "second", "third"])
async def test_each_test_starts_with_no_notes(rawrepo_session, body):
    # Each run writes id 1: without the rollback the later ones would see the earlier rows.
    assert await rawrepo_session.fetch_value("notes.count") == 0
    await rawrepo_session.execute("notes.add", id=1, body=body)
    assert await rawrepo_session.fetch_all("notes.bodies") == [{"body": body}]


async def test_a_savepoint_keeps_the_session_usable_after_a_failed_write(rawrepo_session):
    await rawrepo_session.execute("notes.add", id=1, body="kept")
    with pytest.raises(UniqueViolation):
        async with rawrepo_session.savepoint():
            await rawrepo_session.execute("notes.add", id=1, body="duplicate")
    assert await rawrepo_session.fetch_all("notes.bodies") == [{"body": "kept"}]


async def test_nothing_a_test_wrote_is_committed(rawrepo_db):
    async with rawrepo_db.create_session() as session:
        assert await session.fetch_value("notes.count") == 0
"""


def _write_project(root: Path, conftest: str, ini: str = INI) -> None:
    for dialect in ("postgresql", "mysql", "sqlite"):
        folder = root / "db" / "migrations" / dialect
        folder.mkdir(parents=True)
        (folder / "0001.create-notes.sql").write_text(_MIGRATION)
    for name, text in _QUERIES.items():
        path = root / "db" / "sql" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "pytest.ini").write_text(ini)
    (root / "conftest.py").write_text(conftest)
    (root / "test_notes.py").write_text(_TESTS)


def _point_at(monkeypatch: pytest.MonkeyPatch, target: str, server_url: str) -> None:
    """The inner run tests ``target`` only, on the outer run's server."""
    monkeypatch.setenv("RAWREPO_TEST_BACKENDS", target)
    dialect = target_dialect(target)
    if dialect != "sqlite":
        monkeypatch.setenv(_URL_ENV[dialect], server_url)
        monkeypatch.setenv("RAWREPO_TEST_REQUIRE", dialect)


def test_a_project_conftest_with_its_own_migrations_queries_and_rollback_session(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    rawrepo_target: str,
    rawrepo_server_url: str,
) -> None:
    _write_project(pytester.path, _CONFTEST_WITH_FIXTURES)
    _point_at(monkeypatch, rawrepo_target, rawrepo_server_url)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([f"*test_each_test_starts_with_no_notes*{rawrepo_target}*PASSED*"])


def test_the_ini_options_name_the_project_migrations_and_queries(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configuration, the same on every backend: SQLite is enough. (With neither the options
    # nor the fixtures, the bundled schema is used: test_container_failures.py's project.)
    ini = INI + "rawrepo_migrations_dir = db/migrations\nrawrepo_sql_dir = db/sql\n"
    _write_project(pytester.path, 'pytest_plugins = ["rawrepo.testing"]\n', ini)
    monkeypatch.setenv("RAWREPO_TEST_BACKENDS", "sqlite")
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=6)
