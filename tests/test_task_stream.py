"""TaskRepository.stream_all / stream_by_user: every task, in batches of models."""

from __future__ import annotations

import pytest

from rawrepo.database import Database
from rawrepo.models import Task, TaskCreate
from rawrepo.repositories import TaskRepository
from tests.domain_fixtures import MakeUser

tasks = TaskRepository()


async def test_stream_by_user_yields_every_task_of_the_user_in_order_and_in_batches(
    domain_db: Database, make_user: MakeUser
) -> None:
    alice, bob = await make_user(), await make_user()
    async with domain_db.create_session() as session:
        mine = await tasks.bulk_create(
            session, [TaskCreate(title=f"t{n}", user_id=alice.id) for n in range(23)]
        )
        await tasks.bulk_create(session, [TaskCreate(title="other", user_id=bob.id)])
    async with domain_db.create_session() as session:
        batches = [b async for b in tasks.stream_by_user(session, alice.id, batch_size=5)]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert all(isinstance(t, Task) for b in batches for t in b)
    assert [t for b in batches for t in b] == mine


async def test_stream_all_yields_every_task(domain_db: Database, make_user: MakeUser) -> None:
    alice = await make_user()
    async with domain_db.create_session() as session:
        created = await tasks.bulk_create(
            session, [TaskCreate(title=f"t{n}", user_id=alice.id) for n in range(12)]
        )
        total = await tasks.count(session)
    async with domain_db.create_session() as session:
        streamed = [t async for b in tasks.stream_all(session, batch_size=4) for t in b]
    assert len(streamed) == total
    assert {t.id for t in created} <= {t.id for t in streamed}
    assert [(t.created_at, t.id) for t in streamed] == sorted(
        (t.created_at, t.id) for t in streamed
    )


async def test_stream_rejects_a_bad_user_id_and_batch_size(domain_db: Database) -> None:
    async with domain_db.create_session() as session:
        with pytest.raises(ValueError, match="user_id"):
            await anext(tasks.stream_by_user(session, "nope"))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="batch_size"):
            await anext(tasks.stream_all(session, batch_size=0))
