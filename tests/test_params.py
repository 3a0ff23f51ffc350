"""Parameter values as each driver binds them: datetimes are stored as the same instant
(aware ones in any zone, naive ones taken as UTC), enums as their value, UUIDs as ids
(rawrepo/drivers/*: on MySQL, rawrepo's own encoders)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from rawrepo import Database, Session
from rawrepo.models import TaskStatus
from rawrepo.repositories import TaskRepository, UserRepository

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
        )
        task = await TaskRepository().get(session, task_id)
    assert task is not None
    assert task.status is TaskStatus.IN_PROGRESS
    assert (task.id, task.user_id) == (task_id, user_id)
    assert task.title == 'it\'s 100% \\ "quoted"'
