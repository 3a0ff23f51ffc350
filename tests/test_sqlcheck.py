"""rawrepo.sqlcheck and rawrepo.contracts: the query-to-model contract, checked against
live migrated databases on every backend (the CLI is tested in test_cli_sql.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import rawrepo.database
from rawrepo import migrate, sqlcheck
from rawrepo.config import DIALECTS
from rawrepo.contracts import QueryContract, coerce_value, placeholder_values
from rawrepo.database import Database
from rawrepo.errors import (
    ConfigurationError,
    QueryError,
    QueryNotFoundError,
    QueryParameterError,
)
from rawrepo.models import Task, TaskCreate, TaskStatus, User, UserCreate, UserUpdate
from rawrepo.queries import BUNDLED_SQL_DIR, load_queries
from rawrepo.repositories import TaskRepository, UserRepository
from rawrepo.repository import Repository
from rawrepo.testing import DatabaseFactory

SQL_CHECK = Path(__file__).parent / "sql_check"
ZERO = uuid.UUID(int=0)  # the placeholder value check binds to every UUID parameter

# What the server can tell, per backend (see sqlcheck.TYPES_CHECKED / NULLABILITY_CHECKED).
TYPES = {"postgresql": True, "mysql": False, "sqlite": False}
NULLS = {"postgresql": True, "mysql": True, "sqlite": False}
RUNS = {"postgresql": False, "mysql": True, "sqlite": True}  # check runs statements
POSITION_LINE = {"postgresql": 2, "mysql": None, "sqlite": None}


def shipped_contracts() -> list[QueryContract]:
    return [*UserRepository.query_contracts(), *TaskRepository.query_contracts()]


def only_failure(report: sqlcheck.CheckReport) -> sqlcheck.QueryCheck:
    assert len(report.failed) == 1, [q.line_text() for q in report.failed]
    return report.failed[0]


# -- the shipped queries ---------------------------------------------------------------


async def test_shipped_queries_pass_check(migrated_database_url: str, rawrepo_backend: str) -> None:
    report = await sqlcheck.check_queries(migrated_database_url)
    assert report.ok, [q.line_text() for q in report.failed]
    assert report.dialect == rawrepo_backend
    assert {q.name for q in report.queries} == set(load_queries(BUNDLED_SQL_DIR, rawrepo_backend))
    # every repository query was checked against its contract's model
    assert report.result("users.get_by_id").models == ["User", "UserWithTasks"]
    assert report.result("users.with_task_counts").models == ["UserWithTaskCount"]
    assert report.result("tasks.get_all_by_user").models == ["Task"]
    assert all(q.note is None for q in report.queries), [q.line_text() for q in report.queries]


def test_every_query_a_repository_runs_has_a_contract() -> None:
    for repo in (UserRepository, TaskRepository):
        assert set(repo.required_queries()) == set(repo.contracts)
        for contract in repo.query_contracts():
            assert repo.contracts[contract.name].param_sets == contract.param_sets


def test_bulk_queries_accept_the_per_row_or_the_array_form() -> None:
    contract = TaskRepository.contracts["tasks.bulk_create"]
    row = {"id", "user_id", "title", "title_folded", "description", "status"}
    row |= {"created_at", "updated_at", "completed_at", "idempotency_key"}
    contract.check_call(row)
    contract.check_call({name + ("es" if name == "status" else "s") for name in row})
    with pytest.raises(QueryParameterError, match="no value for 'titles'"):
        contract.check_call(
            {"ids", "user_ids", "title_foldeds", "descriptions", "statuses"}
            | {"completed_ats", "created_ats", "updated_ats", "idempotency_keys"}
        )
    bulk_delete = UserRepository.contracts["users.bulk_delete"]
    bulk_delete.check_call({"id"})
    bulk_delete.check_call({"ids"})
    with pytest.raises(QueryParameterError, match="undeclared parameter 'key'") as info:
        bulk_delete.check_call({"key"})
    assert info.value.query == "users.bulk_delete"
    assert info.value.parameter == "key"
    assert "id | ids" in str(info.value)


def test_a_contract_rejects_exclude_fields_its_model_lacks() -> None:
    with pytest.raises(ValueError, match="'tasks', which is not a field of User"):
        QueryContract("users.get_by_id", {"id": uuid.UUID}, User, frozenset({"tasks"}))


async def test_a_repository_call_goes_through_its_contract(
    rawrepo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = UserRepository()
    drifted = QueryContract("users.get_by_username", {"name": str}, User)
    monkeypatch.setitem(UserRepository.contracts, "users.get_by_username", drifted)
    async with rawrepo_db.create_session() as session:
        with pytest.raises(QueryParameterError, match="undeclared parameter 'username'"):
            await users.get_by_username(session, "alice")
        assert await users.username_exists(session, "alice") is False  # others unaffected


async def test_a_missing_query_fails_at_connect_naming_the_expected_path(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rawrepo.database, "_REQUIRED", set())

    class ArchiveRepository(Repository[User, UserCreate, UserUpdate]):
        area = "archive"
        model = User
        create_model = UserCreate
        update_model = UserUpdate

    assert "archive.get_by_id" in ArchiveRepository.contracts
    db = Database(migrated_database_url, sql_dir=tmp_path)
    with pytest.raises(QueryNotFoundError) as info:
        await db.connect()
    name = str(info.value.query)
    assert name in ArchiveRepository.contracts
    assert str(tmp_path / "archive" / f"{name.split('.')[1]}.sql") in str(info.value)
    assert db.pool is None


# -- failures ---------------------------------------------------------------------------


async def test_a_misspelled_column_in_a_copy_of_sql_fails_naming_the_file(
    migrated_database_url: str, rawrepo_backend: str, tmp_path: Path
) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(BUNDLED_SQL_DIR, copy)
    broken = copy / "users" / "get_by_id.sql"
    broken.write_text(broken.read_text().replace("id, username,", "id, usernme,"))
    report = await sqlcheck.check_queries(migrated_database_url, sql_dirs=[copy])
    failed = only_failure(report)
    assert (failed.name, failed.path) == ("users.get_by_id", str(broken))
    assert "usernme" in failed.problems[0]
    assert failed.line == POSITION_LINE[rawrepo_backend]
    assert failed.line_text().startswith(f"FAIL  users.get_by_id: {broken}: ")
    # the rest of the copy resolves to the copy's files and passes
    assert report.result("users.get_by_username").path.startswith(str(copy))


async def test_a_query_the_database_rejects_is_still_held_to_its_contract(
    migrated_database_url: str,
) -> None:
    report = await sqlcheck.check_queries(
        migrated_database_url, sql_dirs=[SQL_CHECK / "error_and_param"]
    )
    failed = only_failure(report)
    assert failed.name == "users.get_by_id"
    database_message, *contract = failed.problems
    assert "usernme" in database_message
    assert contract == ["parameter :name is never passed by the repository (it passes: id)"]


async def test_a_result_lacking_a_model_field_fails_naming_the_field(
    migrated_database_url: str,
) -> None:
    report = await sqlcheck.check_queries(
        migrated_database_url, sql_dirs=[SQL_CHECK / "missing_field"]
    )
    failed = only_failure(report)
    assert failed.name == "users.get_by_username"
    assert failed.path == str(SQL_CHECK / "missing_field" / "users" / "get_by_username.sql")
    assert failed.problems == ["result has no column 'username' for field User.username"]


async def test_a_parameter_the_repository_never_passes_fails(migrated_database_url: str) -> None:
    report = await sqlcheck.check_queries(
        migrated_database_url, sql_dirs=[SQL_CHECK / "unpassed_param"]
    )
    failed = only_failure(report)
    assert failed.name == "tasks.get_by_user"
    assert failed.problems == [
        "parameter :title is never passed by the repository (it passes: limit, offset, user_id)"
    ]


async def test_a_parameter_the_query_does_not_use_fails(migrated_database_url: str) -> None:
    report = await sqlcheck.check_queries(
        migrated_database_url, sql_dirs=[SQL_CHECK / "unused_param"]
    )
    failed = only_failure(report)
    assert failed.name == "tasks.get_by_status"
    assert failed.problems == ["the repository passes :offset, which the query does not use"]


async def test_a_query_matching_neither_parameter_form_fails(migrated_database_url: str) -> None:
    report = await sqlcheck.check_queries(
        migrated_database_url, sql_dirs=[SQL_CHECK / "variant_mismatch"]
    )
    failed = only_failure(report)
    assert failed.name == "users.bulk_delete"
    assert failed.problems[0] == (
        "parameter :key is never passed by the repository (it passes: id | ids)"
    )


async def test_a_text_column_for_a_uuid_field_fails_where_types_are_known(
    migrated_database_url: str, rawrepo_backend: str
) -> None:
    report = await sqlcheck.check_queries(migrated_database_url, sql_dirs=[SQL_CHECK / "pg_types"])
    result = report.result("users.get_by_id")
    # The .postgresql.sql file applies on PostgreSQL only, the one server that gives types.
    assert result.path.endswith(".postgresql.sql") is TYPES[rawrepo_backend]
    assert result.ok is not TYPES[rawrepo_backend]
    assert report.to_dict()["checks"]["types"] is TYPES[rawrepo_backend]
    expected = [
        f"column 'id' is text, which does not fit field {model}.id (UUID)"
        for model in ("User", "UserWithTasks")
    ]
    assert result.problems == (expected if TYPES[rawrepo_backend] else [])


async def test_a_nullable_column_for_a_required_field_is_reported_where_the_server_tells(
    migrated_database_url: str, rawrepo_backend: str
) -> None:
    report = await sqlcheck.check_queries(migrated_database_url, sql_dirs=[SQL_CHECK / "nullable"])
    result = report.result("users.get_by_username")
    assert result.path == str(SQL_CHECK / "nullable" / "users" / "get_by_username.sql")
    assert report.to_dict()["checks"]["nullability"] is NULLS[rawrepo_backend]
    expected = ["column 'username' may be NULL, but field User.username is not optional"]
    assert result.problems == (expected if NULLS[rawrepo_backend] else [])


async def test_a_parameter_of_another_type_fails_where_types_are_known(
    migrated_database_url: str, rawrepo_backend: str
) -> None:
    report = await sqlcheck.check_queries(
        migrated_database_url, sql_dirs=[SQL_CHECK / "pg_param_type"]
    )
    result = report.result("users.username_exists")
    expected = ["parameter :username is uuid to the database, but the repository passes str"]
    assert result.problems == (expected if TYPES[rawrepo_backend] else [])


async def test_a_contract_whose_query_has_no_file_fails(migrated_database_url: str) -> None:
    ghost = QueryContract("ghosts.get_by_id", {"id": uuid.UUID}, User)
    report = await sqlcheck.check_queries(
        migrated_database_url, contracts=[*shipped_contracts(), ghost]
    )
    failed = only_failure(report)
    assert failed.name == "ghosts.get_by_id"
    assert failed.path == str(BUNDLED_SQL_DIR / "ghosts" / "get_by_id.sql")
    assert "no file defines it" in failed.problems[0]


async def test_contracts_of_repositories_outside_the_checked_modules_are_left_out(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rawrepo.database, "_REQUIRED", set())

    class StrayRepository(Repository[User, UserCreate, UserUpdate]):
        area = "stray"  # no such queries anywhere
        model = User
        create_model = UserCreate
        update_model = UserUpdate

    report = await sqlcheck.check_queries(migrated_database_url)
    assert report.ok
    with_stray = await sqlcheck.check_queries(migrated_database_url, modules=[__name__])
    assert set(StrayRepository.contracts) <= {q.name for q in with_stray.failed}


async def test_check_changes_no_data(
    rawrepo_databases: DatabaseFactory, rawrepo_backend: str
) -> None:
    url = await rawrepo_databases.create("rawrepo_sqlcheck")
    await asyncio.to_thread(migrate.apply, url, bundled=True)
    users, tasks = UserRepository(), TaskRepository()
    now = dt.datetime.now(dt.UTC)
    async with Database(url) as db:
        async with db.create_session() as session:
            # Rows with the placeholder id, so check's DELETE/UPDATE statements match them.
            row = {"id": ZERO, "created_at": now, "updated_at": now}
            await session.execute("users.create", username="zero", email=None, **row)
            alice = await users.create(session, UserCreate(username="alice"))
            await session.execute(
                "tasks.create",
                **{**row, "user_id": ZERO, "title": "t0", "title_folded": "t0"},
                description=None,
                status=TaskStatus.PENDING,
                completed_at=None,
                idempotency_key=None,
            )
            new = [TaskCreate(user_id=alice.id, title=f"t{i}") for i in range(3)]
            await tasks.bulk_create(session, new)
        before = await snapshot(db)
    report = await sqlcheck.check_queries(url)
    assert report.ok, [q.line_text() for q in report.failed]
    # MySQL and SQLite ran the INSERT (and rolled it back): the placeholder id was taken.
    assert ("refused" in (report.result("users.create").note or "")) is RUNS[rawrepo_backend]
    async with Database(url) as db:
        after = await snapshot(db)
    assert after == before
    assert (len(before[0]), len(before[1])) == (2, 4)


async def snapshot(db: Database) -> tuple[list[User], list[Task]]:
    async with db.create_session() as session:
        return (
            await UserRepository().get_multi(session, limit=1000),
            await TaskRepository().get_multi(session, limit=1000),
        )


async def test_check_refuses_a_missing_sqlite_file(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    with pytest.raises(ConfigurationError, match="does not exist"):
        await sqlcheck.check_queries(f"sqlite+aiosqlite:///{missing}")
    assert not missing.exists()


# -- explain ----------------------------------------------------------------------------


async def test_explain_prints_a_plan_for_a_named_query(migrated_database_url: str) -> None:
    user_id = uuid.uuid4()
    plans = await sqlcheck.explain_query(
        migrated_database_url,
        ["tasks.get_by_user"],
        params={"user_id": str(user_id), "limit": "5"},
    )
    ((query, lines),) = plans
    assert query.name == "tasks.get_by_user"
    assert lines and all(isinstance(line, str) and line for line in lines)


async def test_explain_all_covers_every_query(
    migrated_database_url: str, rawrepo_backend: str
) -> None:
    plans = await sqlcheck.explain_query(migrated_database_url, None)
    assert [q.name for q, _ in plans] == sorted(load_queries(BUNDLED_SQL_DIR, rawrepo_backend))
    # SQLite has no plan rows for INSERT ... VALUES: nothing to search or scan.
    assert all(lines for q, lines in plans if not q.body.startswith("INSERT"))


@pytest.mark.parametrize(
    ("name", "params", "error", "message"),
    [
        ("tasks.get_by_usr", {}, QueryNotFoundError, "did you mean tasks.get_by_user"),
        ("tasks.get_by_user", {"color": "red"}, QueryError, "has no parameter 'color'"),
        ("tasks.get_by_user", {"user_id": "nope"}, QueryError, "not a valid UUID"),
        ("tasks.get_by_user", {"limit": "ten"}, QueryError, "limit='ten' is not a valid int"),
        ("tasks.get_by_status", {"status": "done"}, QueryError, "not one of pending"),
    ],
)
async def test_explain_rejects_bad_names_and_values(
    migrated_database_url: str,
    name: str,
    params: dict[str, str],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        await sqlcheck.explain_query(migrated_database_url, [name], params=params)


# -- list and the value helpers (no database) ---------------------------------------------


def test_list_resolves_each_dialects_file_with_overrides_from_later_folders() -> None:
    infos = {i.name: i for i in sqlcheck.list_queries([SQL_CHECK / "dialect_override"])}
    info = infos["users.get_by_id"]
    assert info.files == {
        "postgresql": str(BUNDLED_SQL_DIR / "users" / "get_by_id.sql"),
        "mysql": str(BUNDLED_SQL_DIR / "users" / "get_by_id.sql"),
        "sqlite": str(SQL_CHECK / "dialect_override" / "users" / "get_by_id.sqlite.sql"),
    }
    assert [d for d, f in info.dialects.items() if f.override] == ["sqlite"]
    assert info.description == "One user by id."
    assert info.params == ("id",)
    bulk = infos["tasks.bulk_create"]
    assert bulk.dialects["postgresql"].override and "ids" in bulk.dialects["postgresql"].params
    assert bulk.params[0] == "id"  # the generic file's


@pytest.mark.parametrize("dialect", DIALECTS)
def test_list_for_one_dialect_has_exactly_its_queries(dialect: Any) -> None:
    infos = sqlcheck.list_queries(dialect=dialect)
    queries = load_queries(BUNDLED_SQL_DIR, dialect)
    assert [i.name for i in infos] == sorted(queries)
    for info in infos:
        assert info.to_dict()["file"] == str(queries[info.name].path)
        assert info.params == queries[info.name].params


def test_coerce_value_converts_to_the_declared_type() -> None:
    some = uuid.uuid4()
    assert coerce_value("id", str(some)) == some
    assert coerce_value("ids", f"{some},{ZERO}") == [some, ZERO]
    assert coerce_value("limit", "5") == 5
    assert coerce_value("created_at", "2024-05-01T12:00:00") == dt.datetime(
        2024, 5, 1, 12, tzinfo=dt.UTC
    )
    assert coerce_value("set_title", "true") is True
    assert coerce_value("status", "completed", TaskStatus) == "completed"
    assert coerce_value("price", "1.50", Decimal) == Decimal("1.50")
    assert coerce_value("email", "null", str | None) is None
    with pytest.raises(ValueError, match="set_title='maybe' is not a valid bool"):
        coerce_value("set_title", "maybe")


def test_placeholders_follow_the_contract_form_that_matches_the_file() -> None:
    contract = UserRepository.contracts["users.bulk_delete"]
    assert placeholder_values(["ids"], contract) == {"ids": [ZERO]}
    assert placeholder_values(["id"], contract) == {"id": ZERO}
    task_update = TaskRepository.contracts["tasks.update"]
    values = placeholder_values(["status", "set_status", "updated_at"], task_update)
    assert values["status"] == TaskStatus.PENDING.value
    assert values["set_status"] is False
    assert isinstance(values["updated_at"], dt.datetime) and values["updated_at"].tzinfo
