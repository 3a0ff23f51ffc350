"""Idempotency keys on task creation (TaskService.create, TaskRepository), every backend:
a retry with the same key returns the first task and adds no row, races included."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pydantic import ValidationError

from rawrepo.database import Database
from rawrepo.errors import ConflictError, UserNotFoundError
from rawrepo.models import Task, TaskCreate, TaskStatus, User
from rawrepo.repositories import TaskRepository
from rawrepo.services import TaskService
from tests.domain_fixtures import MakeUser

tasks = TaskService()
repo = TaskRepository()


async def user_tasks(db: Database, user: User) -> list[Task]:
    async with db.create_session() as session:
        return await repo.get_by_user(session, user.id)


# -- the model ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "1 to 200 characters, got 0"),
        ("k" * 201, "1 to 200 characters, got 201"),
        (" key", "must not start or end with whitespace"),
        ("key\n", "must not start or end with whitespace"),
        ("k\x00y", "NUL character"),
        ("k\ud800", "lone surrogate"),
    ],
)
def test_an_invalid_key_is_a_validation_error_naming_the_field(key: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as info:
        TaskCreate(title="t", user_id=uuid.uuid4(), idempotency_key=key)
    assert info.value.errors()[0]["loc"] == ("idempotency_key",)


def test_a_non_string_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="idempotency_key"):
        TaskCreate(title="t", user_id=uuid.uuid4(), idempotency_key=7)  # type: ignore[arg-type]


def test_the_key_is_optional_and_kept_exactly() -> None:
    assert TaskCreate(title="t", user_id=uuid.uuid4()).idempotency_key is None
    key = "a b\tc-" + "é" * 194
    assert TaskCreate(title="t", user_id=uuid.uuid4(), idempotency_key=key).idempotency_key == key


# -- on every backend ----------------------------------------------------------------


async def test_the_same_key_twice_makes_one_task(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    data = TaskCreate(title="pay rent", description="by friday", user_id=user.id)
    async with domain_db.create_session() as session:
        first = await tasks.create(session, data, idempotency_key="op-1")
    assert first.idempotency_key == "op-1"
    async with domain_db.create_session() as session:
        again, created = await tasks.create_or_get(session, data, idempotency_key="op-1")
    assert (again, created) == (first, False)
    async with domain_db.create_session() as session:  # the key in the model works alike
        keyed = data.model_copy(update={"idempotency_key": "op-1"})
        assert await tasks.create(session, keyed) == first
        assert await tasks.create(session, keyed, idempotency_key="op-1") == first
    assert await user_tasks(domain_db, user) == [first]


async def test_a_new_key_reports_created(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        data = TaskCreate(title="t", user_id=user.id, idempotency_key="new")
        task, created = await tasks.create_or_get(session, data)
        assert created is True
        assert await tasks.get(session, task.id) == task
        assert await repo.get_by_idempotency_key(session, user.id, "new") == task


async def test_a_replay_in_the_same_transaction_returns_the_task(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    data = TaskCreate(title="t", user_id=user.id, idempotency_key="same-tx")
    async with domain_db.create_session() as session:
        first = await tasks.create(session, data)
        assert await tasks.create(session, data) == first
    assert await user_tasks(domain_db, user) == [first]


async def test_the_same_key_with_another_payload_is_a_conflict_changing_nothing(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    data = TaskCreate(title="pay rent", user_id=user.id, idempotency_key="op-2")
    async with domain_db.create_session() as session:
        first = await tasks.create(session, data)
    changes: list[dict[str, object]] = [
        {"title": "pay gas"},
        {"description": "by friday"},
        {"status": TaskStatus.COMPLETED},
    ]
    for change in changes:
        other = data.model_copy(update=change)
        (name,) = change
        async with domain_db.create_session() as session:
            with pytest.raises(ConflictError, match=f"idempotency_key 'op-2' .* different {name}"):
                await tasks.create(session, other)
    assert await user_tasks(domain_db, user) == [first]


async def test_a_replay_after_the_task_changed_returns_it_as_it_is_now(
    domain_db: Database, make_user: MakeUser
) -> None:
    # The key names one creation: once the task was started, the same request again
    # (a late retry) returns that task instead of a conflict or a second task.
    user = await make_user()
    data = TaskCreate(title="file taxes", user_id=user.id, idempotency_key="op-late")
    async with domain_db.create_session() as session:
        first = await tasks.create(session, data)
    async with domain_db.create_session() as session:
        started = await tasks.start(session, first.id)
    async with domain_db.create_session() as session:
        replay, created = await tasks.create_or_get(session, data)
    assert not created
    assert replay == started and replay.status is TaskStatus.IN_PROGRESS
    assert await user_tasks(domain_db, user) == [started]


async def test_one_key_for_two_users_makes_two_tasks(
    domain_db: Database, make_user: MakeUser
) -> None:
    alice, bob = await make_user(), await make_user()
    async with domain_db.create_session() as session:
        a = await tasks.create(
            session, TaskCreate(title="t", user_id=alice.id), idempotency_key="k"
        )
        b = await tasks.create(session, TaskCreate(title="t", user_id=bob.id), idempotency_key="k")
    assert a.id != b.id
    assert await user_tasks(domain_db, alice) == [a]
    assert await user_tasks(domain_db, bob) == [b]


async def test_keys_are_compared_exactly(domain_db: Database, make_user: MakeUser) -> None:
    user = await make_user()
    keys = ["Key", "key", "KEY", "kéy", "ke\u0301y"]  # case and normalization count
    async with domain_db.create_session() as session:
        made = [
            await tasks.create(session, TaskCreate(title="t", user_id=user.id), idempotency_key=k)
            for k in keys
        ]
    assert len({t.id for t in made}) == len(keys)
    async with domain_db.create_session() as session:
        for key, task in zip(keys, made, strict=True):
            assert await repo.get_by_idempotency_key(session, user.id, key) == task
        assert await repo.get_by_idempotency_key(session, user.id, "kEy") is None


async def test_a_key_of_200_characters_is_stored_whole(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    key = "€" * 200  # 600 bytes in UTF-8: the limit is in characters
    async with domain_db.create_session() as session:
        task = await tasks.create(
            session, TaskCreate(title="t", user_id=user.id), idempotency_key=key
        )
    async with domain_db.create_session() as session:
        assert (await tasks.get(session, task.id)).idempotency_key == key


async def test_without_a_key_every_create_makes_a_task(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    data = TaskCreate(title="t", user_id=user.id)
    async with domain_db.create_session() as session:
        one = await tasks.create(session, data)
        two, created = await tasks.create_or_get(session, data)
    assert created is True
    assert one.id != two.id
    assert one.idempotency_key is None and two.idempotency_key is None
    assert await user_tasks(domain_db, user) == [one, two]


async def test_concurrent_creates_with_one_key_make_one_task(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    data = TaskCreate(title="once", user_id=user.id, idempotency_key="race")

    async def create() -> tuple[Task, bool]:
        async with domain_db.create_session() as session:
            return await tasks.create_or_get(session, data)

    results = await asyncio.gather(*(create() for _ in range(10)))
    assert len({task.id for task, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert [t.id for t in await user_tasks(domain_db, user)] == [results[0][0].id]


async def test_an_unknown_user_with_a_key_stores_nothing_and_keeps_the_session(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    missing = uuid.uuid4()
    async with domain_db.create_session() as session:
        with pytest.raises(UserNotFoundError, match=str(missing)):
            await tasks.create(
                session, TaskCreate(title="t", user_id=missing), idempotency_key="lost"
            )
        # The failed insert was undone by its savepoint: the transaction goes on.
        kept = await tasks.create(
            session, TaskCreate(title="t", user_id=user.id), idempotency_key="lost"
        )
    async with domain_db.create_session() as session:
        assert await repo.count(session) == 1
        assert await repo.get_by_idempotency_key(session, missing, "lost") is None
        assert await repo.get_by_idempotency_key(session, user.id, "lost") == kept


async def test_a_conflict_leaves_the_transaction_usable(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    data = TaskCreate(title="a", user_id=user.id, idempotency_key="k")
    async with domain_db.create_session() as session:
        first = await tasks.create(session, data)
    async with domain_db.create_session() as session:
        with pytest.raises(ConflictError):
            await tasks.create(session, data.model_copy(update={"title": "b"}))
        other = await tasks.create(session, TaskCreate(title="c", user_id=user.id))
    assert await user_tasks(domain_db, user) == [first, other]


@pytest.mark.parametrize(
    ("key", "problem"),
    [("", "1 to 200 characters"), ("k ", "whitespace"), ("x" * 201, "got 201")],
)
async def test_an_invalid_keyword_key_is_a_value_error_storing_nothing(
    domain_db: Database, make_user: MakeUser, key: str, problem: str
) -> None:
    user = await make_user()
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match=f"idempotency_key .*{problem}"):
            await tasks.create(session, TaskCreate(title="t", user_id=user.id), idempotency_key=key)
    assert await user_tasks(domain_db, user) == []


async def test_two_different_keys_in_one_call_are_refused(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    data = TaskCreate(title="t", user_id=user.id, idempotency_key="body")
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match=r"'header' differs from data\.idempotency_key 'body'"):
            await tasks.create(session, data, idempotency_key="header")
    assert await user_tasks(domain_db, user) == []


async def test_bulk_create_stores_keys_and_refuses_a_taken_one(
    domain_db: Database, make_user: MakeUser
) -> None:
    user = await make_user()
    rows = [TaskCreate(title=f"t{i}", user_id=user.id, idempotency_key=f"b{i}") for i in range(3)]
    async with domain_db.create_session() as session:
        made = await repo.bulk_create(session, [*rows, TaskCreate(title="x", user_id=user.id)])
    assert [t.idempotency_key for t in made] == ["b0", "b1", "b2", None]
    assert await user_tasks(domain_db, user) == made
    async with domain_db.create_session() as session:
        assert await tasks.create(session, rows[1]) == made[1]
