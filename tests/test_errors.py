"""Driver errors become rawrepo errors, the same class on every backend (rawrepo/errors.py
and the translation in rawrepo/drivers/*)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

import rawrepo.errors
from rawrepo import (
    CheckViolation,
    Database,
    DatabaseError,
    DataError,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    RawRepoError,
    UniqueViolation,
)

SQL_DIR = Path(__file__).parent / "sql_core"

# The package whose exception each backend's driver raises (it must only be a __cause__).
DRIVER_PACKAGE = {
    "postgresql": "asyncpg",
    "postgresql+pgbouncer": "asyncpg",
    "mysql": "pymysql",
    "mysql+asyncmy": "asyncmy",
    "sqlite": "sqlite3",
}


@pytest_asyncio.fixture(loop_scope="session")
async def db(items_url: str) -> AsyncIterator[Database]:
    """The items database holding parent 1, item 1 ('taken', parent 1) and item 2 ('other')."""
    async with Database(items_url, sql_dir=SQL_DIR) as database:
        async with database.session() as session:
            await session.execute("items.delete_items")
            await session.execute("items.delete_parents")
            await session.execute("items.insert_parent", id=1, name="parent")
            await session.execute("items.insert_item", id=1, parent_id=1, name="taken", qty=1)
            await session.execute("items.insert_item", id=2, parent_id=None, name="other", qty=1)
        yield database


async def snapshot(db: Database) -> list[dict[str, Any]]:
    async with db.session() as session:
        return await session.fetch_all("items.list_items")


def new_item(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"id": 10, "parent_id": None, "name": "fresh", "qty": 0}
    values.update(overrides)
    return values


# case -> (query, parameters, error class)
VIOLATIONS: dict[str, tuple[str, dict[str, Any], type[IntegrityError]]] = {
    "unique": ("items.insert_item", new_item(name="taken"), UniqueViolation),
    "unique_on_update": ("items.set_name", {"id": 2, "name": "taken"}, UniqueViolation),
    "primary_key": ("items.insert_item", new_item(id=1), UniqueViolation),
    "foreign_key": ("items.insert_item", new_item(parent_id=99), ForeignKeyViolation),
    "not_null": ("items.insert_item", new_item(name=None), NotNullViolation),
    "check": ("items.insert_item", new_item(qty=-1), CheckViolation),
}

# (case, backend) -> the constraint name the backend reports (None: it names none)
CONSTRAINT: dict[tuple[str, str], str | None] = {
    ("unique", "postgresql"): "uq_core_items_name",
    ("unique", "mysql"): "uq_core_items_name",
    ("unique", "sqlite"): None,  # SQLite names the columns, not the constraint
    ("unique_on_update", "postgresql"): "uq_core_items_name",
    ("unique_on_update", "mysql"): "uq_core_items_name",
    ("unique_on_update", "sqlite"): None,
    ("primary_key", "postgresql"): "core_items_pkey",
    ("primary_key", "mysql"): "PRIMARY",
    ("primary_key", "sqlite"): None,
    ("foreign_key", "postgresql"): "fk_core_items_parent",
    ("foreign_key", "mysql"): "fk_core_items_parent",
    ("foreign_key", "sqlite"): None,  # SQLite reports no detail for foreign keys
    ("not_null", "postgresql"): None,
    ("not_null", "mysql"): None,
    ("not_null", "sqlite"): None,
    ("check", "postgresql"): "ck_core_items_qty",
    ("check", "mysql"): "ck_core_items_qty",
    ("check", "sqlite"): "ck_core_items_qty",
}


@pytest.mark.parametrize("case", VIOLATIONS)
async def test_constraint_violation_raises_its_class_with_table_and_constraint(
    db: Database, rawrepo_backend: str, rawrepo_target: str, case: str
) -> None:
    query, params, error = VIOLATIONS[case]
    before = await snapshot(db)
    with pytest.raises(error) as info:
        async with db.session() as session:
            await session.execute(query, **params)
    assert info.value.table == "core_items"
    assert info.value.constraint == CONSTRAINT[case, rawrepo_backend]
    assert info.value.query == query
    assert query in str(info.value)
    assert type(info.value.__cause__).__module__.startswith(DRIVER_PACKAGE[rawrepo_target])
    assert await snapshot(db) == before


# What each backend reports for deleting a row that another row still references.
DELETE_REFERENCED_TABLE = {"postgresql": "core_items", "mysql": "core_items", "sqlite": None}


async def test_deleting_a_referenced_row_raises_foreign_key_violation(
    db: Database, rawrepo_backend: str
) -> None:
    with pytest.raises(ForeignKeyViolation) as info:
        async with db.session() as session:
            await session.execute("items.delete_parent", id=1)
    assert info.value.table == DELETE_REFERENCED_TABLE[rawrepo_backend]
    async with db.session() as session:  # the parent is still there to reference
        assert await session.execute("items.insert_item", **new_item(parent_id=1)) == 1


async def test_not_null_violation_names_the_column(db: Database) -> None:
    with pytest.raises(NotNullViolation) as info:
        async with db.session() as session:
            await session.execute("items.insert_item", **new_item(name=None))
    assert info.value.column == "name"


async def test_too_long_value_raises_data_error_and_is_not_stored(
    db: Database, rawrepo_target: str
) -> None:
    before = await snapshot(db)
    with pytest.raises(DataError) as info:
        async with db.session() as session:
            await session.execute("items.insert_item", **new_item(name="x" * 11))
    assert "items.insert_item" in str(info.value)
    assert type(info.value.__cause__).__module__.startswith(DRIVER_PACKAGE[rawrepo_target])
    assert await snapshot(db) == before
    async with db.session() as session:  # the limit is 10: ten characters fit
        assert await session.execute("items.insert_item", **new_item(name="x" * 10)) == 1


async def test_too_long_value_is_not_truncated_inside_a_committed_session(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(DataError):
            async with session.savepoint():
                await session.execute("items.insert_item", **new_item(name="y" * 11))
    assert [row["name"] for row in await snapshot(db)] == ["taken", "other"]


async def test_out_of_range_integer_raises_data_error(db: Database) -> None:
    before = await snapshot(db)
    with pytest.raises(DataError) as info:
        async with db.session() as session:
            await session.execute("items.insert_big", id=3, name="big", big=2**63)
    assert info.value.__cause__ is not None
    assert await snapshot(db) == before


async def test_syntax_error_raises_database_error_naming_the_query(
    db: Database, rawrepo_target: str
) -> None:
    with pytest.raises(DatabaseError) as info:
        async with db.session() as session:
            await session.fetch_all("items.bad_syntax")
    assert type(info.value) is DatabaseError
    assert info.value.query == "items.bad_syntax"
    assert "items.bad_syntax" in str(info.value)
    assert type(info.value.__cause__).__module__.startswith(DRIVER_PACKAGE[rawrepo_target])


async def test_no_driver_exception_escapes_any_failing_call(db: Database) -> None:
    failing: list[tuple[str, dict[str, Any]]] = [
        *[(query, params) for query, params, _ in VIOLATIONS.values()],
        ("items.insert_item", new_item(name="z" * 50)),
        ("items.insert_big", {"id": 4, "name": "b", "big": 2**70}),
        ("items.bad_syntax", {}),
    ]
    for query, params in failing:
        try:
            async with db.session() as session:
                await session.execute(query, **params)
        except Exception as exc:
            assert isinstance(exc, RawRepoError), (query, type(exc))
            assert not isinstance(exc.__cause__, RawRepoError)
        else:
            pytest.fail(f"{query} did not fail")
    assert db.pool is not None and db.pool.in_use == 0


ERROR_CLASSES = [
    getattr(rawrepo.errors, name)
    for name in rawrepo.errors.__all__
    if inspect.isclass(getattr(rawrepo.errors, name))
]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_can_be_raised_with_just_a_message(cls: type[RawRepoError]) -> None:
    with pytest.raises(cls) as info:
        raise cls("something went wrong")
    assert str(info.value) == "something went wrong"
    assert isinstance(info.value, RawRepoError)


def test_hint_is_shown_after_the_message() -> None:
    error = DatabaseError("no free connection", hint="raise DATABASE_POOL_SIZE")
    assert str(error) == "no free connection (hint: raise DATABASE_POOL_SIZE)"


def test_violations_are_integrity_errors_and_database_errors() -> None:
    for cls in (UniqueViolation, ForeignKeyViolation, NotNullViolation, CheckViolation):
        assert issubclass(cls, IntegrityError)
        assert issubclass(cls, DatabaseError)
