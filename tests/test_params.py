"""Parameter values as each driver binds them: datetimes are stored as the same instant
(aware ones in any zone, naive ones taken as UTC), enums as their value, UUIDs as ids
(rawrepo/drivers/*: on MySQL, rawrepo's own encoders); Decimal, date, time, dicts and
lists alike on every backend; list parameters (``IN (:ids)``); errors that name the
parameter and its file (rawrepo/queries.py ``Query.bind``)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from rawrepo import Database, DataError, QueryParameterError, Session
from rawrepo.models import TaskStatus
from rawrepo.queries import json_default
from rawrepo.repositories import TaskRepository, UserRepository
from tests.conftest import CORE_SQL_DIR

if TYPE_CHECKING:
    from rawrepo.testing import DatabaseFactory

PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
MINUS_FIVE = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
MOMENTS = {
    "plus-two": dt.datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=PLUS_TWO),
    "minus-five-thirty": dt.datetime(2024, 5, 1, 7, 0, 15, 123456, tzinfo=MINUS_FIVE),
    "naive-is-utc": dt.datetime(2024, 5, 1, 12, 30, 15, 123456),
    "whole-second": dt.datetime(2024, 5, 1, 12, 30, 15, tzinfo=dt.UTC),
    "year-one": dt.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
}


async def insert_user(session: Session, when: dt.datetime) -> uuid.UUID:
    """A new user row stamped ``when`` (both timestamps), through the SQL file itself."""
    user_id = uuid.uuid4()
    await session.execute(
        "users.create",
        id=user_id,
        username=f"u_{user_id.hex[:12]}",
        email=None,
        created_at=when,
        updated_at=when,
    )
    return user_id


@pytest.mark.parametrize("case", MOMENTS)
async def test_datetime_parameters_are_stored_as_the_same_instant(
    rawrepo_db: Database, case: str
) -> None:
    value = MOMENTS[case]
    expected = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    async with rawrepo_db.session() as session:
        user_id = await insert_user(session, value)
        user = await UserRepository().get(session, user_id)
    assert user is not None
    assert user.created_at == expected  # the same instant...
    assert user.created_at.utcoffset() == dt.timedelta(0)  # ...read back in UTC
    assert user.created_at.microsecond == expected.microsecond


async def test_enum_and_uuid_parameters_are_stored_as_their_values(rawrepo_db: Database) -> None:
    task_id, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
    async with rawrepo_db.session() as session:
        user_id = await insert_user(session, now)
        await session.execute(
            "tasks.create",
            id=task_id,
            user_id=user_id,
            title='it\'s 100% \\ "quoted"',
            title_folded='it\'s 100% \\ "quoted"',
            description=None,
            status=TaskStatus.IN_PROGRESS,
            created_at=now,
            updated_at=now,
            completed_at=None,
            idempotency_key=None,
        )
        task = await TaskRepository().get(session, task_id)
    assert task is not None
    assert task.status is TaskStatus.IN_PROGRESS
    assert (task.id, task.user_id) == (task_id, user_id)
    assert task.title == 'it\'s 100% \\ "quoted"'


# -- the types users pass, bound alike on every backend (rawrepo/queries.py Query.bind,
# -- rawrepo/drivers/sqlite.py _adapt_other, mysql.py make_literal, postgresql.py _bind_json)


class Color(Enum):
    """A plain enum (not a str subclass): asyncpg alone would refuse it."""

    RED = "red"
    BLUE = "blue"


TOTAL = Decimal("12.34")
DAY = dt.date(2024, 5, 1)
AT_TIME = dt.time(14, 30, 15)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def values_db(rawrepo_databases: DatabaseFactory) -> AsyncIterator[Database]:
    """A connected Database on a fresh database with the core_values test table."""
    url = await rawrepo_databases.create()
    async with Database(url, sql_dir=CORE_SQL_DIR) as db:
        async with db.session() as session:
            await session.execute("binding.create_values")
        yield db


@pytest_asyncio.fixture(loop_scope="session")
async def session(values_db: Database) -> AsyncIterator[Session]:
    """A session on core_values, emptied first."""
    async with values_db.session() as session:
        await session.execute("binding.delete_values")
    async with values_db.session() as session:
        yield session


async def insert_value(
    session: Session, id: int, *, color: Color = Color.RED, doc: Any = None
) -> uuid.UUID:
    key = uuid.uuid4()
    await session.execute(
        "binding.insert_value",
        id=id,
        key_id=key,
        total=TOTAL,
        day=DAY,
        at_time=AT_TIME,
        color=color,
        doc=doc,
    )
    return key


async def test_decimal_date_time_and_enum_parameters_bind_on_every_backend(
    session: Session,
) -> None:
    key = await insert_value(session, 1)
    await insert_value(session, 2, color=Color.BLUE)
    found = await session.fetch_all(
        "binding.find_values", key_id=key, total=TOTAL, day=DAY, at_time=AT_TIME, color=Color.RED
    )
    assert found == [{"id": 1}]
    row = await session.fetch_one("binding.get_value", id=1)
    assert row is not None
    assert Decimal(str(row["total"])) == TOTAL  # SQLite reads a NUMERIC back as a float


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "ünïcode", "tags": ["a", "b"], "nested": {"n": 1, "ok": True, "none": None}},
        [1, 2.5, "three", None],
        {"id": uuid.UUID(int=7), "at": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC), "n": TOTAL},
    ],
    ids=["dict", "list", "rawrepo-types"],
)
async def test_dicts_and_lists_are_stored_as_json(session: Session, doc: Any) -> None:
    await insert_value(session, 1, doc=doc)
    row = await session.fetch_one("binding.get_value", id=1)
    assert row is not None
    expected = json.loads(json.dumps(doc, default=json_default))
    assert json.loads(row["doc"]) == expected


async def test_in_list_parameters_take_lists_tuples_and_sets(session: Session) -> None:
    for id in range(1, 6):
        await insert_value(session, id, color=Color.BLUE if id == 5 else Color.RED)

    async def ids(ids: Any, colors: Any = ()) -> list[int]:
        rows = await session.fetch_all("binding.by_ids", ids=ids, colors=colors)
        return [row["id"] for row in rows]

    assert await ids([2, 4, 99]) == [2, 4]
    assert await ids((5, 1)) == [1, 5]
    assert await ids({3}) == [3]
    assert await ids([1, 2, 3, 4, 5], colors=[Color.BLUE]) == [1, 2, 3, 4]
    assert await ids([1, 5], colors=["red", "green"]) == [5]
    assert await ids(list(range(-2000, 2000))) == [1, 2, 3, 4, 5]


async def test_an_empty_in_list_matches_nothing_and_an_empty_not_in_list_everything(
    session: Session,
) -> None:
    await insert_value(session, 1)
    assert await session.fetch_all("binding.by_ids", ids=[], colors=[]) == []
    assert await session.fetch_all("binding.by_ids", ids=[1], colors=[]) == [{"id": 1}]


async def test_an_in_list_of_uuids(session: Session) -> None:
    keys = [await insert_value(session, id) for id in range(1, 4)]
    rows = await session.fetch_all("binding.by_keys", keys=[keys[2], uuid.uuid4(), keys[0]])
    assert rows == [{"id": 1}, {"id": 3}]


@pytest.mark.parametrize("value", [5, "1,2", None])
async def test_a_list_parameter_given_something_else_names_it_and_its_file(
    session: Session, value: Any
) -> None:
    with pytest.raises(QueryParameterError) as info:
        await session.fetch_all("binding.by_ids", ids=value, colors=[])
    message = str(info.value)
    assert "parameter :ids of query binding.by_ids" in message
    assert str(CORE_SQL_DIR / "binding" / "by_ids.sql") in message
    assert info.value.parameter == "ids"


async def test_a_value_no_backend_binds_is_a_data_error_naming_the_parameter_and_file(
    session: Session,
) -> None:
    with pytest.raises(DataError) as info:
        await session.execute(
            "binding.insert_value",
            id=1,
            key_id=uuid.uuid4(),
            total=TOTAL,
            day=DAY,
            at_time=AT_TIME,
            color=object(),
            doc=None,
        )
    message = str(info.value)
    assert "parameter :color of query binding.insert_value" in message
    assert str(CORE_SQL_DIR / "binding" / "insert_value.sql") in message
    assert await session.fetch_all("binding.by_ids", ids=[1], colors=[]) == []


async def test_a_dict_that_is_not_json_is_a_data_error_naming_the_parameter(
    session: Session,
) -> None:
    with pytest.raises(DataError, match=r"parameter :doc of query binding.insert_value .*JSON"):
        await insert_value(session, 1, doc={"x": object()})
