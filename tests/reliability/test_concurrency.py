"""Concurrency through the services, on every backend: races for one username and for
one task's status, a mixed read/write load through a small pool, and several
Database objects (as separate processes would have) writing one database at once.

The load runs for ``RAWREPO_SOAK_SECONDS`` (default 5) seconds per backend.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest_asyncio

from rawrepo import Database, Session
from rawrepo.errors import InvalidStatusTransition, UsernameTakenError
from rawrepo.models import Task, TaskCreate, TaskStatus, User, UserCreate
from rawrepo.services import ALLOWED_TRANSITIONS, TaskService, UserService

SOAK_SECONDS = float(os.environ.get("RAWREPO_SOAK_SECONDS", "5"))

users = UserService()
tasks = TaskService()
S = TaskStatus


@pytest_asyncio.fixture(loop_scope="session")
async def make_database(
    domain_db: Database, migrated_database_url: str
) -> AsyncIterator[Callable[..., Awaitable[Database]]]:
    """More Databases on the (emptied) domain database; disconnected afterwards."""
    made: list[Database] = []

    async def make(**settings: float) -> Database:
        db = Database(migrated_database_url, **settings)  # type: ignore[arg-type]
        made.append(db)
        await db.connect()
        return db

    yield make
    for db in made:
        await db.disconnect()


async def test_twenty_concurrent_creates_of_one_username_let_exactly_one_win(
    make_database: Callable[..., Awaitable[Database]],
) -> None:
    db = await make_database(pool_size=20, max_overflow=0)
    spellings = ["racer", "RACER", "Racer", "rAcEr"]
    gate = asyncio.Event()

    async def create(i: int) -> User:
        await gate.wait()
        async with db.create_session() as session:
            return await users.create_user(session, UserCreate(username=spellings[i % 4]))

    racers = [asyncio.create_task(create(i)) for i in range(20)]
    gate.set()
    results = await asyncio.gather(*racers, return_exceptions=True)

    winners = [r for r in results if isinstance(r, User)]
    assert len(winners) == 1
    losers = [r for r in results if not isinstance(r, User)]
    assert len(losers) == 19
    assert all(type(r) is UsernameTakenError for r in losers), losers
    async with db.create_session() as session:
        stored = await users.get_user_by_username(session, "RaCeR")
        assert stored.id == winners[0].id
        assert await users.users.count(session, {"username": "racer"}) == 1


@dataclass(frozen=True)
class Move:
    name: str
    target: TaskStatus
    call: Callable[..., Awaitable[Task]]


MOVES = [
    Move("start", S.IN_PROGRESS, tasks.start),
    Move("complete", S.COMPLETED, tasks.mark_completed),
    Move("cancel", S.CANCELLED, tasks.cancel),
    Move("reopen", S.PENDING, tasks.reopen),
]


async def test_fifty_concurrent_status_moves_let_only_legal_moves_win_in_commit_order(
    make_database: Callable[..., Awaitable[Database]],
) -> None:
    db = await make_database(pool_size=50, max_overflow=0)
    async with db.create_session() as session:
        owner = await users.create_user(session, UserCreate(username="mover"))
        task = await tasks.create(session, TaskCreate(title="contended", user_id=owner.id))
    rng = random.Random(20240611)
    plan = [rng.choice(MOVES) for _ in range(50)]
    won: list[tuple[int, TaskStatus]] = []  # in commit order (see below)
    gate = asyncio.Event()

    async def attempt(i: int, move: Move) -> Task | None:
        await gate.wait()
        async with db.create_session() as session:
            try:
                moved = await move.call(session, task.id)
            except InvalidStatusTransition:
                return None
            # The winner's row lock is held until its commit, so no later winner can get
            # here before this one has committed: this list is the commit order.
            won.append((i, moved.status))
            return moved

    racers = [asyncio.create_task(attempt(i, m)) for i, m in enumerate(plan)]
    gate.set()
    results = await asyncio.gather(*racers, return_exceptions=True)

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(won) == sum(r is not None for r in results)
    assert 2 <= len(won) < 50  # moves did race: some won, some lost
    state = S.PENDING
    for i, target in won:
        assert target is plan[i].target
        assert target in ALLOWED_TRANSITIONS[state], f"{plan[i].name} won from {state}"
        state = target
    async with db.create_session() as session:
        final = await tasks.get(session, task.id)
    assert final.status is state
    assert (final.completed_at is not None) is (state is S.COMPLETED)


async def test_a_hundred_sessions_mixing_reads_and_writes_through_a_pool_of_ten(
    make_database: Callable[..., Awaitable[Database]],
) -> None:
    db = await make_database(pool_size=10, max_overflow=0, pool_timeout=30)
    workers = 100
    async with db.create_session() as session:
        owners = [
            await users.create_user(session, UserCreate(username=f"worker_{w}"))
            for w in range(workers)
        ]
    live: dict[int, list[uuid.UUID]] = {w: [] for w in range(workers)}
    ops: Counter[str] = Counter()
    errors: list[BaseException] = []
    deadline = time.monotonic() + SOAK_SECONDS

    async def work(w: int) -> None:
        rng = random.Random(w)
        mine = live[w]
        while True:
            if time.monotonic() >= deadline and ops[f"worker {w}"]:
                return
            ops[f"worker {w}"] += 1
            op = rng.choice(["create", "create", "delete", "move", "read", "read", "search"])
            try:
                async with db.create_session() as session:
                    if op == "create":
                        data = TaskCreate(title=f"w{w} task {rng.random()}", user_id=owners[w].id)
                        mine.append((await tasks.create(session, data)).id)
                    elif op == "delete" and mine:
                        await tasks.delete(session, mine.pop(rng.randrange(len(mine))))
                    elif op == "move" and mine:
                        await rng.choice(MOVES).call(session, rng.choice(mine))
                    elif op == "read":
                        seen = await tasks.list_tasks(session, limit=1000, user_id=owners[w].id)
                        assert sorted(t.id for t in seen) == sorted(mine)
                    else:
                        await tasks.tasks.search_by_title(session, f"w{w} ")
                ops[op] += 1
            except InvalidStatusTransition:
                ops["refused move"] += 1
            except Exception as exc:
                errors.append(exc)
                return

    await asyncio.gather(*(work(w) for w in range(workers)))

    assert errors == []
    assert db.pool is not None and db.pool.in_use == 0 and db.pool.size <= 10
    assert all(ops[f"worker {w}"] for w in range(workers))  # every worker did work
    assert ops["create"] > 0 and ops["read"] > 0
    async with db.create_session() as session:
        total = await tasks.tasks.count(session)
        for w in range(0, workers, 9):
            assert await tasks.tasks.count(session, {"user_id": owners[w].id}) == len(live[w])
    assert total == sum(len(ids) for ids in live.values())


async def test_several_database_objects_writing_one_database_at_once_never_fail_on_locks(
    make_database: Callable[..., Awaitable[Database]],
) -> None:
    # Separate Database objects share no pool and no in-process lock: like separate
    # processes, they meet only in the database (SQLite: its file lock and busy timeout,
    # which write-first transactions wait on without error).
    dbs = [await make_database(pool_size=3, max_overflow=2, pool_timeout=30) for _ in range(4)]

    async def write(d: int, i: int) -> None:
        db = dbs[d]
        async with db.create_session() as session:
            owner = await users.create_user(session, UserCreate(username=f"p{d}_{i}"))
        async with db.create_session() as session:
            for n in range(3):
                await tasks.create(session, TaskCreate(title=f"{n}", user_id=owner.id))

        # Read, then write: on SQLite another writer may have committed after this
        # transaction's first read (a stale snapshot, SerializationFailure), as under
        # SERIALIZABLE elsewhere. run_in_transaction reruns it.
        async def complete_first(session: Session) -> Task:
            first = (await tasks.list_tasks(session, user_id=owner.id))[0]
            return await tasks.mark_completed(session, first.id)

        await db.run_in_transaction(complete_first, retries=10, backoff=0.01)

    results = await asyncio.gather(
        *(write(d, i) for d in range(4) for i in range(10)), return_exceptions=True
    )
    assert [r for r in results if r is not None] == []
    async with dbs[0].create_session() as session:
        assert await users.users.count(session) == 40
        assert await tasks.tasks.count(session) == 120
        assert await tasks.tasks.count(session, {"status": S.COMPLETED}) == 40


async def lock_waiters(db: Database, watcher: Database) -> int:
    """How many sessions of ``db``'s database wait for a lock now, asked through
    ``watcher`` (SQLite: how many wait for ``db``'s single-writer lock)."""
    if db.dialect == "sqlite":
        return len(getattr(db.driver, "write_lock")._waiters or ())  # noqa: B009
    async with watcher.create_session() as session:
        return int(await session.fetch_value("domain.lock_waits"))


async def test_racers_for_a_username_after_its_holder_rolls_back_let_exactly_one_win(
    make_database: Callable[..., Awaitable[Database]], domain_db: Database
) -> None:
    # The holder inserts the name and keeps its transaction open; three racers wait on
    # the unique index (SQLite: on the write lock). When the holder rolls back, InnoDB
    # lets the waiters deadlock over the freed key: the victim's DeadlockDetected comes
    # out of create_user's savepoint and run_in_transaction reruns it.
    db = await make_database(pool_size=6, max_overflow=0)
    attempts = 0

    async def race(session: Session) -> User:
        nonlocal attempts
        attempts += 1
        return await users.create_user(session, UserCreate(username="held"))

    class HolderGivesUp(Exception):
        pass

    racers: list[asyncio.Task[User]] = []
    try:
        async with db.create_session() as holder:
            await users.create_user(holder, UserCreate(username="HELD"))
            racers = [
                asyncio.create_task(db.run_in_transaction(race, backoff=0.01)) for _ in range(3)
            ]
            for _ in range(80):  # up to 20 s
                if await lock_waiters(db, domain_db) >= 3:
                    break
                # InnoDB refreshes INNODB_TRX only after 100 ms without a read of it
                await asyncio.sleep(0.25)
            else:
                raise AssertionError("the racers never waited for the holder's lock")
            raise HolderGivesUp
    except HolderGivesUp:
        pass
    results = await asyncio.gather(*racers, return_exceptions=True)
    winners = [r for r in results if isinstance(r, User)]
    losers = [r for r in results if not isinstance(r, User)]
    assert len(winners) == 1, results
    assert all(type(r) is UsernameTakenError for r in losers), losers
    assert attempts >= 3
    async with db.create_session() as session:
        assert (await users.get_user_by_username(session, "Held")).id == winners[0].id
