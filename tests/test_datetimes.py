"""Datetime parameters mean the same on every backend, whatever the process time zone:
aware values are converted to UTC, naive values are taken as UTC (as the models take
them), and a value with no UTC equivalent in years 1..9999 is a DataError raised
before anything is written (rawrepo/drivers/*)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import Database, DataError
from rawrepo.testing import DatabaseFactory

SQL_DIR = Path(__file__).parent / "sql_core"
UTC = dt.UTC
NOON = dt.datetime(2024, 3, 1, 12, 0, 0, 250000)


def moment(value: object) -> dt.datetime:
    """A stored value as a datetime (SQLite rows hold the ISO text rawrepo wrote)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def times_url(rawrepo_databases: DatabaseFactory) -> str:
    url = await rawrepo_databases.create()
    async with Database(url, sql_dir=SQL_DIR) as db, db.session() as session:
        await session.execute("times.create")
    return url


@pytest_asyncio.fixture(loop_scope="session")
async def db(times_url: str) -> AsyncIterator[Database]:
    async with Database(times_url, sql_dir=SQL_DIR) as database:
        async with database.session() as session:
            await session.execute("times.delete_all")
        yield database


@pytest.fixture(params=["Asia/Kolkata", "America/New_York", "UTC"])
def process_time_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local time zone for the test (TZ), restored afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


async def test_a_naive_datetime_is_taken_as_utc_whatever_the_process_time_zone(
    db: Database, process_time_zone: str
) -> None:
    async with db.session() as session:
        await session.execute("times.insert", id=1, at=NOON)
        await session.execute_many("times.insert", [{"id": 2, "at": NOON}])
        await session.execute("times.insert", id=3, at=NOON.replace(tzinfo=UTC))
        kolkata = dt.timezone(dt.timedelta(hours=5, minutes=30))
        await session.execute("times.insert", id=4, at=NOON.replace(tzinfo=kolkata))
    async with db.session() as session:
        stored = [moment(await session.fetch_value("times.get", id=i)) for i in (1, 2, 3, 4)]
        # a naive value in a WHERE clause is UTC too
        by_naive = [row["id"] for row in await session.fetch_all("times.ids_at", at=NOON)]
    expected = NOON.replace(tzinfo=UTC)
    assert stored[:3] == [expected] * 3
    assert all(
        value.tzinfo is not None and value.utcoffset() == dt.timedelta(0) for value in stored
    )
    assert stored[3] == expected - dt.timedelta(hours=5, minutes=30)
    assert by_naive == [1, 2, 3]


@pytest.mark.rawrepo_backends("postgresql")
async def test_a_naive_datetime_for_a_postgresql_timestamp_column_stays_as_it_is(
    db: Database, process_time_zone: str
) -> None:
    # timestamp without time zone holds wall-clock values: no conversion of any kind.
    async with db.session() as session:
        await session.execute("times.insert_local", id=1, local_at=NOON)
        assert await session.fetch_value("times.get_local", id=1) == NOON


OUT_OF_RANGE = [
    dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(1, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
]


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=["after-9999", "before-year-1"])
async def test_a_datetime_with_no_utc_equivalent_is_a_data_error_and_writes_nothing(
    db: Database, value: dt.datetime
) -> None:
    good = [{"id": i, "at": NOON} for i in range(10, 15)]
    for autocommit in (False, True):
        async with db.session(autocommit=autocommit) as session:
            with pytest.raises(DataError, match=":at") as single:
                await session.execute("times.insert", id=1, at=value)
            with pytest.raises(DataError, match=":at"):
                await session.fetch_all("times.ids_at", at=value)
            with pytest.raises(DataError, match=":at"):
                await session.execute_many(
                    "times.insert", [*good[:2], {"id": 99, "at": value}, *good[2:]]
                )
            assert await session.fetch_value("times.count") == 0
        assert single.value.query == "times.insert"
    async with db.session() as session:
        assert await session.fetch_value("times.count") == 0


async def test_the_last_and_first_moments_in_range_round_trip(db: Database) -> None:
    last = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    first = dt.datetime(1000, 1, 1, 0, 0, 0, tzinfo=UTC)  # MySQL's documented start
    async with db.session() as session:
        await session.execute("times.insert", id=1, at=last)
        await session.execute("times.insert", id=2, at=first)
        assert moment(await session.fetch_value("times.get", id=1)) == last
        assert moment(await session.fetch_value("times.get", id=2)) == first
