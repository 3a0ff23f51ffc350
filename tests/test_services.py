"""UserService and TaskService: business rules and their errors, races included."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from rawrepo.database import Database, Session
from rawrepo.errors import (
    ConflictError,
    InvalidStatusTransition,
    NotFoundError,
    TaskNotFoundError,
    UsernameTakenError,
    UserNotFoundError,
)
from rawrepo.models import Task, TaskCreate, TaskStatus, TaskUpdate, User, UserCreate, UserUpdate
from rawrepo.services import ALLOWED_TRANSITIONS, TaskService, UserService
from tests.domain_fixtures import MakeTask, MakeUser

S = TaskStatus
user_service = UserService()
task_service = TaskService()

Move = Callable[[Session, uuid.UUID], Awaitable[Task]]
MOVES: dict[str, tuple[Move, TaskStatus]] = {
    "start": (task_service.start, S.IN_PROGRESS),
    "mark_completed": (task_service.mark_completed, S.COMPLETED),
    "cancel": (task_service.cancel, S.CANCELLED),
    "reopen": (task_service.reopen, S.PENDING),
}
ALLOWED = {
    (S.PENDING, S.IN_PROGRESS),
    (S.PENDING, S.COMPLETED),
    (S.PENDING, S.CANCELLED),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.IN_PROGRESS, S.CANCELLED),
    (S.IN_PROGRESS, S.PENDING),
    (S.COMPLETED, S.PENDING),
    (S.CANCELLED, S.PENDING),
}


def test_transition_table_is_the_documented_one() -> None:
    table = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


# -- users ---------------------------------------------------------------------------


async def test_create_and_get_user(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        user = await user_service.create_user(session, UserCreate(username="Alice", email=None))
    async with domain_db.create_session() as session:
        assert await user_service.get_user(session, user.id) == user
        assert await user_service.get_user_by_username(session, "ALICE") == user


@pytest.mark.parametrize("taken", ["alice", "Alice", "ALICE"])
async def test_a_taken_username_in_any_case_is_refused(
    domain_db: Database, make_user: MakeUser, taken: str
) -> None:
    await make_user("Alice")
    async with domain_db.create_session() as session:
        with pytest.raises(UsernameTakenError, match=f"username '{taken}' is already taken"):
            await user_service.create_user(session, UserCreate(username=taken))
        # The session is still usable: the failed insert was undone by its savepoint.
        bob = await user_service.create_user(session, UserCreate(username="bob"))
    async with domain_db.create_session() as session:
        assert await user_service.get_user(session, bob.id) == bob
        assert [u.username for u in await user_service.list_users(session)] == ["Alice", "bob"]


def test_username_taken_is_a_conflict() -> None:
    assert issubclass(UsernameTakenError, ConflictError)
    assert issubclass(UserNotFoundError, NotFoundError)


async def test_concurrent_creates_of_one_name_let_exactly_one_win(domain_db: Database) -> None:
    async def create(i: int) -> User:
        name = "racer" if i % 2 else "RACER"
        async with domain_db.create_session() as session:
            return await user_service.create_user(session, UserCreate(username=name))

    results = await asyncio.gather(*(create(i) for i in range(20)), return_exceptions=True)
    winners = [r for r in results if isinstance(r, User)]
    losers = [r for r in results if not isinstance(r, User)]
    assert len(winners) == 1
    assert len(losers) == 19
    assert all(type(r) is UsernameTakenError for r in losers), losers
    async with domain_db.create_session() as session:
        assert await user_service.list_users(session) == winners


async def test_unknown_users_raise_user_not_found(domain_db: Database) -> None:
    missing = uuid.uuid4()
    async with domain_db.create_session() as session:
        with pytest.raises(UserNotFoundError, match=str(missing)):
            await user_service.get_user(session, missing)
        with pytest.raises(UserNotFoundError, match="nobody"):
            await user_service.get_user_by_username(session, "nobody")
        with pytest.raises(UserNotFoundError):
            await user_service.update_user(session, missing, UserUpdate(email="a@b.c"))
        with pytest.raises(UserNotFoundError):
            await user_service.delete_user(session, missing)
        with pytest.raises(UserNotFoundError):
            await user_service.get_user_with_tasks(session, missing)


async def test_update_user(domain_db: Database, make_user: MakeUser) -> None:
    alice = await make_user("alice", email="a@example.com")
    await make_user("bob")
    async with domain_db.create_session() as session:
        with pytest.raises(UsernameTakenError, match="'BOB'"):
            await user_service.update_user(session, alice.id, UserUpdate(username="BOB"))
        renamed = await user_service.update_user(session, alice.id, UserUpdate(username="Alicia"))
    assert (renamed.username, renamed.email) == ("Alicia", "a@example.com")
    assert renamed.updated_at > alice.updated_at
    async with domain_db.create_session() as session:
        assert await user_service.get_user(session, alice.id) == renamed


async def test_delete_user_takes_their_tasks(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    alice, bob = await make_user(), await make_user()
    doomed = [await make_task(alice, f"t{i}") for i in range(3)]
    kept = await make_task(bob, "kept")
    async with domain_db.create_session() as session:
        await user_service.delete_user(session, alice.id)
    async with domain_db.create_session() as session:
        for task in doomed:
            with pytest.raises(TaskNotFoundError):
                await task_service.get(session, task.id)
        assert await task_service.get(session, kept.id) == kept
        assert await session.fetch_value("domain.count_tasks") == 1
        with pytest.raises(UserNotFoundError):
            await user_service.get_user(session, alice.id)


async def test_list_users_pages(domain_db: Database, make_user: MakeUser) -> None:
    made = [await make_user() for _ in range(3)]
    async with domain_db.create_session() as session:
        assert await user_service.list_users(session) == made
        assert await user_service.list_users(session, 1, 1) == made[1:2]
        with pytest.raises(ValueError, match="limit"):
            await user_service.list_users(session, limit=1001)
        with pytest.raises(ValueError, match="skip"):
            await user_service.list_users(session, skip=-1)


async def test_user_views(domain_db: Database, make_user: MakeUser, make_task: MakeTask) -> None:
    alice = await make_user()
    task = await make_task(alice)
    async with domain_db.create_session() as session:
        with_tasks = await user_service.get_user_with_tasks(session, alice.id)
        counted = await user_service.list_users_with_task_counts(session)
    assert with_tasks.tasks == [task]
    assert [(u.id, u.task_count) for u in counted] == [(alice.id, 1)]


# -- tasks ---------------------------------------------------------------------------


async def test_create_task_for_an_unknown_user_is_user_not_found(
    domain_db: Database, make_user: MakeUser
) -> None:
    missing = uuid.uuid4()
    user = await make_user()
    async with domain_db.create_session() as session:
        with pytest.raises(UserNotFoundError, match=str(missing)):
            await task_service.create(session, TaskCreate(title="orphan", user_id=missing))
        # The session is still usable.
        task = await task_service.create(session, TaskCreate(title="fine", user_id=user.id))
    async with domain_db.create_session() as session:
        assert await task_service.list_tasks(session) == [task]


async def test_get_update_delete_task(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    user = await make_user()
    task = await make_task(user, "draft", description="some text")
    async with domain_db.create_session() as session:
        assert await task_service.get(session, task.id) == task
        updated = await task_service.update(session, task.id, TaskUpdate(title="final"))
        assert (updated.title, updated.description) == ("final", "some text")
        cleared = await task_service.update(session, task.id, TaskUpdate(description=None))
        assert (cleared.title, cleared.description) == ("final", None)
        assert await task_service.update(session, task.id, TaskUpdate()) == cleared
        await task_service.delete(session, task.id)
        with pytest.raises(TaskNotFoundError):
            await task_service.get(session, task.id)
        with pytest.raises(TaskNotFoundError):
            await task_service.delete(session, task.id)
        with pytest.raises(TaskNotFoundError):
            await task_service.update(session, task.id, TaskUpdate(title="gone"))
        with pytest.raises(TaskNotFoundError):
            await task_service.update(session, task.id, TaskUpdate(status=S.COMPLETED))


async def test_list_tasks_filters(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    alice, bob = await make_user(), await make_user()
    a = await make_task(alice, status=S.COMPLETED)
    b = await make_task(bob, status=S.COMPLETED)
    await make_task(bob)
    async with domain_db.create_session() as session:
        assert await task_service.list_tasks(session, status=S.COMPLETED) == [a, b]
        assert await task_service.list_tasks(session, status=S.COMPLETED, user_id=bob.id) == [b]


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("move", list(MOVES))
async def test_status_moves_follow_the_rules(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask, current: S, move: str
) -> None:
    call, target = MOVES[move]
    task = await make_task(await make_user(), status=current)
    async with domain_db.create_session() as session:
        if (current, target) in ALLOWED:
            moved = await call(session, task.id)
            assert moved.status is target
            assert moved.updated_at > task.updated_at
            if target is S.COMPLETED:
                assert moved.completed_at == moved.updated_at
            else:
                assert moved.completed_at is None
        else:
            with pytest.raises(InvalidStatusTransition) as info:
                await call(session, task.id)
            assert info.value.current == current
            assert info.value.target == target
            assert f"'{current.value}'" in str(info.value)
            assert f"'{target.value}'" in str(info.value)
    async with domain_db.create_session() as session:
        stored = await task_service.get(session, task.id)
    expected = target if (current, target) in ALLOWED else current
    assert stored.status is expected


@pytest.mark.parametrize("move", list(MOVES))
async def test_moves_of_an_unknown_task_are_task_not_found(domain_db: Database, move: str) -> None:
    call, _ = MOVES[move]
    async with domain_db.create_session() as session:
        with pytest.raises(TaskNotFoundError):
            await call(session, uuid.uuid4())


async def test_reopen_clears_completed_at(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    task = await make_task(await make_user())
    async with domain_db.create_session() as session:
        started = await task_service.start(session, task.id)
        assert started.completed_at is None
        done = await task_service.mark_completed(session, task.id)
        assert done.completed_at is not None
        reopened = await task_service.reopen(session, task.id)
    assert reopened.status is S.PENDING
    assert reopened.completed_at is None


async def test_update_with_a_status_follows_the_same_rules(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    user = await make_user()
    done = await make_task(user, "done", status=S.COMPLETED)
    pending = await make_task(user, "pending")
    async with domain_db.create_session() as session:
        with pytest.raises(InvalidStatusTransition) as info:
            await task_service.update(
                session, done.id, TaskUpdate(title="sneaky", status=S.IN_PROGRESS)
            )
        assert (info.value.current, info.value.target) == (S.COMPLETED, S.IN_PROGRESS)
        same = await task_service.update(session, done.id, TaskUpdate(status=S.COMPLETED))
        assert same.status is S.COMPLETED and same.completed_at == done.completed_at
        both = await task_service.update(
            session, pending.id, TaskUpdate(title="finished", status=S.COMPLETED)
        )
    assert (both.title, both.status) == ("finished", S.COMPLETED)
    assert both.completed_at is not None
    async with domain_db.create_session() as session:
        unchanged = await task_service.get(session, done.id)
    assert unchanged.title == "done"


async def test_concurrent_starts_let_exactly_one_win(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    task = await make_task(await make_user())

    async def start() -> Task:
        async with domain_db.create_session() as session:
            return await task_service.start(session, task.id)

    results = await asyncio.gather(*(start() for _ in range(10)), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Task)]
    losers = [r for r in results if not isinstance(r, Task)]
    assert len(winners) == 1
    assert len(losers) == 9
    assert all(type(r) is InvalidStatusTransition for r in losers), losers
    assert all(
        isinstance(r, InvalidStatusTransition) and r.current == S.IN_PROGRESS for r in losers
    )
    async with domain_db.create_session() as session:
        assert (await task_service.get(session, task.id)).status is S.IN_PROGRESS
