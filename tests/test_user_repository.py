"""UserRepository: usernames compare case-insensitively; users with tasks and task counts."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest

from rawrepo.database import Database
from rawrepo.errors import UniqueViolation
from rawrepo.models import TaskStatus, UserCreate, UserUpdate, UserWithTasks
from rawrepo.repositories import UserRepository
from tests.domain_fixtures import MakeTask, MakeUser

users = UserRepository()


async def test_get_by_username_ignores_case(domain_db: Database, make_user: MakeUser) -> None:
    alice = await make_user("Alice")
    async with domain_db.create_session() as session:
        for spelling in ("Alice", "alice", "ALICE", "aLiCe"):
            assert await users.get_by_username(session, spelling) == alice
        assert await users.get_by_username(session, "alicia") is None
        # Not a possible username: found nowhere (MySQL alone would ignore the space).
        assert await users.get_by_username(session, "Alice ") is None
        assert await users.get_by_username(session, "al\x00ice") is None
        assert await users.username_exists(session, "Alice ") is False
        assert await users.username_exists(session, "") is False


async def test_username_exists_ignores_case(domain_db: Database, make_user: MakeUser) -> None:
    await make_user("bob.smith")
    async with domain_db.create_session() as session:
        assert await users.username_exists(session, "BOB.SMITH") is True
        assert await users.username_exists(session, "bob_smith") is False


async def test_a_username_is_unique_in_any_case(domain_db: Database, make_user: MakeUser) -> None:
    await make_user("Alice")
    with pytest.raises(UniqueViolation):
        async with domain_db.create_session() as session:
            await users.create(session, UserCreate(username="alice"))
    other = await make_user("other")
    with pytest.raises(UniqueViolation):
        async with domain_db.create_session() as session:
            await users.update(session, other, UserUpdate(username="ALICE"))
    async with domain_db.create_session() as session:
        assert await users.count(session) == 2


async def test_a_user_may_change_the_case_of_their_own_name(
    domain_db: Database, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    async with domain_db.create_session() as session:
        renamed = await users.update(session, alice, UserUpdate(username="ALICE"))
    assert renamed is not None and renamed.username == "ALICE"


async def test_get_user_with_tasks_lists_their_tasks_oldest_first(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first = await make_task(alice, "first")
    await make_task(bob, "not alice's")
    second = await make_task(alice, "second", status=TaskStatus.COMPLETED)
    tie_a = await make_task(alice, "tie a")
    tie_b = await make_task(alice, "tie b")
    tie = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    async with domain_db.create_session() as session:
        for task in (tie_a, tie_b):
            await session.execute("domain.set_task_created_at", id=task.id, created_at=tie)
    async with domain_db.create_session() as session:
        found = await users.get_user_with_tasks(session, alice.id)
    assert isinstance(found, UserWithTasks)
    assert (found.id, found.username, found.created_at) == (alice.id, "alice", alice.created_at)
    ties = sorted([tie_a.id, tie_b.id], key=str)
    assert [t.id for t in found.tasks] == [first.id, second.id, *ties]
    assert found.tasks[1] == second


async def test_get_user_with_tasks_for_a_user_without_tasks_or_unknown(
    domain_db: Database, make_user: MakeUser
) -> None:
    loner = await make_user()
    async with domain_db.create_session() as session:
        found = await users.get_user_with_tasks(session, loner.id)
        assert found is not None and found.tasks == []
        assert await users.get_user_with_tasks(session, uuid.uuid4()) is None


async def test_get_user_with_tasks_runs_two_queries_whatever_the_task_count(
    migrated_database_url: str,
    domain_db: Database,
    make_user: MakeUser,
    make_task: MakeTask,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await make_user()
    for i in range(12):
        await make_task(user, f"t{i}")
    db = Database(migrated_database_url, echo=True)
    try:
        with caplog.at_level(logging.INFO, logger="rawrepo.sql"):
            async with db.create_session() as session:
                found = await users.get_user_with_tasks(session, user.id)
    finally:
        await db.disconnect()
    assert found is not None and len(found.tasks) == 12
    ran = [r.getMessage().split()[0] for r in caplog.records if r.name == "rawrepo.sql"]
    assert ran == ["users.get_by_id", "tasks.get_all_by_user"]


async def test_users_with_task_counts(
    domain_db: Database, make_user: MakeUser, make_task: MakeTask
) -> None:
    none_a = await make_user("none_a")
    two = await make_user("two")
    three = await make_user("three")
    none_b = await make_user("none_b")
    also_two = await make_user("also_two")
    for user, n in ((two, 2), (three, 3), (also_two, 2)):
        for i in range(n):
            await make_task(user, f"{user.username} {i}")
    async with domain_db.create_session() as session:
        counted = await users.get_users_with_task_counts(session)
        first_two = await users.get_users_with_task_counts(session, 2)
        paged = await users.get_users_with_task_counts(session, limit=2, skip=2)
    assert [(u.username, u.task_count) for u in counted] == [
        ("three", 3),
        ("two", 2),
        ("also_two", 2),
        ("none_a", 0),
        ("none_b", 0),
    ]
    assert [u.id for u in first_two] == [three.id, two.id]
    assert [u.id for u in paged] == [also_two.id, none_a.id]
    assert counted[3].created_at == none_a.created_at and counted[4].id == none_b.id


async def test_users_with_task_counts_bounds(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="limit"):
            await users.get_users_with_task_counts(session, limit=0)
        with pytest.raises(ValueError, match="skip"):
            await users.get_users_with_task_counts(session, skip=-1)
