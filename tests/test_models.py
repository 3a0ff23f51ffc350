"""The domain models validate input before anything reaches a database."""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import rawrepo.models as models
from rawrepo.models import (
    Task,
    TaskCreate,
    TaskRead,
    TaskStatus,
    TaskUpdate,
    TimestampMixin,
    User,
    UserCreate,
    UserRead,
    UserUpdate,
    UserWithTaskCount,
    UserWithTasks,
    UUIDMixin,
)

NOW = dt.datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=dt.UTC)


def test_models_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(models).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(models.__all__)
    for name in models.__all__:
        assert hasattr(models, name)


def test_task_status_values() -> None:
    assert [s.value for s in TaskStatus] == ["pending", "in_progress", "completed", "cancelled"]
    assert TaskStatus("in_progress") is TaskStatus.IN_PROGRESS
    assert f"{TaskStatus.COMPLETED}" == "completed"


@pytest.mark.parametrize("username", ["abc", "a" * 50, "A.b-c_9", "ALICE", "1-2"])
def test_valid_usernames_are_kept_as_given(username: str) -> None:
    assert UserCreate(username=username).username == username


@pytest.mark.parametrize(
    "username",
    [
        "",
        "ab",
        "a" * 51,
        "héllo",
        "with space",
        " alice",
        "alice ",
        "semi;colon",
        "a\x00bc",
        "ali$",
    ],
)
def test_invalid_usernames_are_rejected(username: str) -> None:
    with pytest.raises(ValidationError) as info:
        UserCreate(username=username)
    assert info.value.errors()[0]["loc"] == ("username",)


def test_username_error_names_the_allowed_characters() -> None:
    with pytest.raises(ValidationError, match="ASCII letters, digits"):
        UserCreate(username="héllo")


@pytest.mark.parametrize(
    ("field", "ok", "too_long"),
    [
        ("title", "t" * 200, "t" * 201),
        ("description", "d" * 10_000, "d" * 10_001),
    ],
)
def test_task_text_lengths(field: str, ok: str, too_long: str) -> None:
    base: dict[str, Any] = {"title": "x", "user_id": uuid.uuid4()}
    assert getattr(TaskCreate(**{**base, field: ok}), field) == ok
    with pytest.raises(ValidationError) as info:
        TaskCreate(**{**base, field: too_long})
    assert info.value.errors()[0]["loc"] == (field,)


def test_lengths_count_characters_not_bytes() -> None:
    emoji = "\N{GRINNING FACE}" * 200
    assert TaskCreate(title=emoji, user_id=uuid.uuid4()).title == emoji


def test_empty_title_is_rejected() -> None:
    with pytest.raises(ValidationError):
        TaskCreate(title="", user_id=uuid.uuid4())


def test_email_length() -> None:
    email = "a" * 310 + "@example.c"
    assert len(email) == 320
    assert UserCreate(username="alice", email=email).email == email
    with pytest.raises(ValidationError):
        UserCreate(username="alice", email=email + "c")


@pytest.mark.parametrize("bad", ["nul\x00inside", "lone \ud800 surrogate", "\udfff"])
@pytest.mark.parametrize(
    "build",
    [
        lambda v: UserCreate(username="alice", email=v),
        lambda v: UserUpdate(email=v),
        lambda v: TaskCreate(title=v, user_id=uuid.uuid4()),
        lambda v: TaskCreate(title="t", description=v, user_id=uuid.uuid4()),
        lambda v: TaskUpdate(title=v),
        lambda v: TaskUpdate(description=v),
    ],
)
def test_nul_and_lone_surrogates_are_rejected_in_every_text(build: Any, bad: str) -> None:
    with pytest.raises(ValidationError):
        build(bad)


def test_text_is_not_stripped() -> None:
    task = TaskCreate(title="  padded\t", description="\n line \n", user_id=uuid.uuid4())
    assert task.title == "  padded\t"
    assert task.description == "\n line \n"


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (UserCreate, {"username": "alice", "emial": "a@b.c"}),
        (UserUpdate, {"usernme": "alice"}),
        (TaskCreate, {"title": "t", "user_id": str(uuid.uuid4()), "titel": "x"}),
        (TaskUpdate, {"stauts": "pending"}),
    ],
)
def test_input_models_reject_unknown_fields(model: type[BaseModel], data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(data)


def test_task_create_defaults() -> None:
    user_id = uuid.uuid4()
    task = TaskCreate(title="t", user_id=str(user_id))  # type: ignore[arg-type]
    assert task.status is TaskStatus.PENDING
    assert task.description is None
    assert task.user_id == user_id


def test_task_create_rejects_unknown_status_and_bad_user_id() -> None:
    with pytest.raises(ValidationError):
        TaskCreate(title="t", user_id=uuid.uuid4(), status="done")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TaskCreate(title="t", user_id="not-a-uuid")  # type: ignore[arg-type]


def test_updates_are_all_optional_and_track_what_was_set() -> None:
    assert UserUpdate().model_fields_set == set()
    assert TaskUpdate().model_fields_set == set()
    update = TaskUpdate(description=None)
    assert update.model_fields_set == {"description"}
    assert UserUpdate(email=None).model_fields_set == {"email"}


@pytest.mark.parametrize(
    ("model", "field"), [(UserUpdate, "username"), (TaskUpdate, "title"), (TaskUpdate, "status")]
)
def test_updates_cannot_null_a_required_column(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} cannot be null"):
        model.model_validate({field: None})


def test_timestamps_are_converted_to_aware_utc() -> None:
    class Stamped(TimestampMixin):
        pass

    naive = dt.datetime(2024, 5, 1, 12, 30)
    plus_two = dt.datetime(2024, 5, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    stamped = Stamped(created_at=naive, updated_at=plus_two)
    assert stamped.created_at.tzinfo is dt.UTC
    assert stamped.created_at == naive.replace(tzinfo=dt.UTC)
    assert stamped.updated_at.tzinfo is dt.UTC
    assert stamped.updated_at == plus_two
    assert stamped.updated_at.hour == 12


def test_sqlite_timestamp_text_is_parsed_to_aware_utc() -> None:
    row = {
        "id": str(uuid.uuid4()),
        "username": "alice",
        "email": None,
        "created_at": "2024-05-01 12:30:00.123456+00:00",
        "updated_at": "2024-05-01 12:30:00.123456+00:00",
    }
    user = User.model_validate(row)
    assert user.created_at == NOW
    assert user.created_at.tzinfo is dt.UTC
    assert isinstance(user.id, uuid.UUID)


def test_uuid_subclasses_are_accepted_as_uuids() -> None:
    class DriverUUID(uuid.UUID):
        pass

    value = uuid.uuid4()

    class Keyed(UUIDMixin):
        pass

    keyed = Keyed(id=DriverUUID(str(value)))
    assert isinstance(keyed.id, uuid.UUID)
    assert keyed.id == value


def test_models_are_from_attributes_friendly() -> None:
    source = SimpleNamespace(
        id=uuid.uuid4(), username="alice", email=None, created_at=NOW, updated_at=NOW
    )
    user = User.model_validate(source)
    assert user.username == "alice"
    assert UserCreate.model_validate(SimpleNamespace(username="bob", email=None)).username == "bob"


def test_read_views() -> None:
    assert UserRead is User
    assert TaskRead is Task
    user_id = uuid.uuid4()
    task = Task(
        id=uuid.uuid4(),
        user_id=user_id,
        title="t",
        status=TaskStatus.COMPLETED,
        created_at=NOW,
        updated_at=NOW,
        completed_at=NOW,
    )
    with_tasks = UserWithTasks(
        id=user_id, username="alice", created_at=NOW, updated_at=NOW, tasks=[task]
    )
    assert with_tasks.tasks == [task]
    assert UserWithTasks(id=user_id, username="a", created_at=NOW, updated_at=NOW).tasks == []
    counted = UserWithTaskCount(
        id=user_id, username="alice", created_at=NOW, updated_at=NOW, task_count=3
    )
    assert counted.task_count == 3
    assert isinstance(counted, User)
