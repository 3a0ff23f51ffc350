"""``Database.run_in_transaction``: reruns on transient failures with jittered backoff,
gives up with the last error, and survives a real deadlock (PostgreSQL, MySQL) or a
stale snapshot (SQLite, which cannot deadlock: it has one writer at a time)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from rawrepo import (
    Database,
    DatabaseError,
    DeadlockDetected,
    SerializationFailure,
    Session,
    TransientError,
    UniqueViolation,
)

from .conftest import MakeDatabase


async def note_ids(db: Database) -> set[int]:
    async with db.session() as session:
        return {row["id"] for row in await session.fetch_all("rel.note_ids")}


class Flaky:
    """A transaction body that writes a row, then fails with ``error`` its first
    ``failures`` times; records when each attempt started."""

    def __init__(self, error: type[TransientError], failures: int) -> None:
        self.error = error
        self.failures = failures
        self.started: list[float] = []
        self.raised: list[TransientError] = []

    async def __call__(self, session: Session) -> str:
        self.started.append(time.monotonic())
        attempt = len(self.started)
        await session.execute("rel.insert_note", id=attempt)
        if attempt <= self.failures:
            exc = self.error(f"attempt {attempt} failed (simulated by the test)")
            self.raised.append(exc)
            raise exc
        return f"done on attempt {attempt}"


@pytest.mark.parametrize("error", [SerializationFailure, DeadlockDetected])
@pytest.mark.parametrize("failures", [1, 3])
async def test_transient_failures_are_retried_until_the_body_succeeds(
    notes_db: MakeDatabase,
    error: type[TransientError],
    failures: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = await notes_db()
    body = Flaky(error, failures)
    with caplog.at_level(logging.INFO, logger="rawrepo"):
        result = await db.run_in_transaction(body, retries=3, backoff=0.01)
    assert result == f"done on attempt {failures + 1}"
    assert len(body.started) == failures + 1
    # Each failed attempt rolled back: only the successful attempt's row is there.
    assert await note_ids(db) == {failures + 1}
    assert sum("retry" in r.getMessage() for r in caplog.records) == failures


async def test_when_retries_run_out_the_last_error_is_raised_and_nothing_is_written(
    notes_db: MakeDatabase,
) -> None:
    db = await notes_db()
    body = Flaky(SerializationFailure, failures=10)
    with pytest.raises(SerializationFailure) as info:
        await db.run_in_transaction(body, retries=3, backoff=0.01)
    assert info.value is body.raised[-1]
    assert len(body.started) == 4  # the first run and three retries
    assert await note_ids(db) == set()
    assert db.pool is not None and db.pool.in_use == 0


async def test_errors_that_are_not_transient_are_not_retried(notes_db: MakeDatabase) -> None:
    db = await notes_db()
    attempts = 0

    async def duplicate(session: Session) -> None:
        nonlocal attempts
        attempts += 1
        await session.execute("rel.insert_note", id=1)
        await session.execute("rel.insert_note", id=1)

    with pytest.raises(UniqueViolation):
        await db.run_in_transaction(duplicate, retries=3, backoff=0.01)
    assert attempts == 1
    assert await note_ids(db) == set()


async def test_backoff_grows_exponentially_with_jitter(notes_db: MakeDatabase) -> None:
    db = await notes_db()
    backoff = 0.04
    seed = 20240611
    draws = random.Random(seed)
    expected = [backoff * 2**k * (0.5 + draws.random()) for k in range(4)]
    body = Flaky(SerializationFailure, failures=4)
    random.seed(seed)  # run_in_transaction draws its jitter from the random module
    await db.run_in_transaction(body, retries=4, backoff=backoff)
    gaps = [b - a for a, b in zip(body.started, body.started[1:], strict=False)]
    assert len(gaps) == 4
    for k, (gap, want) in enumerate(zip(gaps, expected, strict=True)):
        # the jittered delay, plus the failed attempt's own round trips
        assert want - 0.005 <= gap <= want + 0.1, (k, gap, want)
        assert 0.5 * backoff * 2**k <= want <= 1.5 * backoff * 2**k


# --- a real conflict, provoked on each backend -----------------------------------------------


async def deadlock(db: Database, attempts: Counter[str], seen: list[DatabaseError]) -> None:
    """Two transactions update rows 1 and 2 in opposite orders, each waiting until the
    other holds its first row: the server must abort one of them."""
    holds = {1: asyncio.Event(), 2: asyncio.Event()}

    def body(first: int, second: int) -> Callable[[Session], Awaitable[None]]:
        async def run(session: Session) -> None:
            attempts[f"{first}->{second}"] += 1
            try:
                await session.execute("rel.bump_note", id=first)
                holds[first].set()
                await asyncio.wait_for(holds[second].wait(), timeout=10)
                await session.execute("rel.bump_note", id=second)
            except DatabaseError as exc:
                seen.append(exc)
                raise

        return run

    await asyncio.wait_for(
        asyncio.gather(
            db.run_in_transaction(body(1, 2), retries=3, backoff=0.01),
            db.run_in_transaction(body(2, 1), retries=3, backoff=0.01),
        ),
        timeout=30,
    )


async def stale_snapshot(db: Database, attempts: Counter[str], seen: list[DatabaseError]) -> None:
    """A transaction reads, another one then writes and commits, and the first one
    writes: SQLite cannot let it (its snapshot is stale). Each bumps both rows.
    (Reads before a session's first write run outside its transaction, so the
    reader opens its transaction explicitly to hold a snapshot.)"""
    has_read = asyncio.Event()
    other_committed = asyncio.Event()

    async def reader_then_writer(session: Session) -> None:
        attempts["reader"] += 1
        try:
            await session.begin()
            await session.fetch_value("rel.note_n", id=1)
            has_read.set()
            await asyncio.wait_for(other_committed.wait(), timeout=10)
            await session.execute("rel.bump_note", id=1)
            await session.execute("rel.bump_note", id=2)
        except DatabaseError as exc:
            seen.append(exc)
            raise

    async def writer(session: Session) -> None:
        attempts["writer"] += 1
        await asyncio.wait_for(has_read.wait(), timeout=10)
        await session.execute("rel.bump_note", id=2)
        await session.execute("rel.bump_note", id=1)

    async def write_then_signal() -> None:
        await db.run_in_transaction(writer, retries=3, backoff=0.01)
        other_committed.set()

    await asyncio.wait_for(
        asyncio.gather(
            db.run_in_transaction(reader_then_writer, retries=3, backoff=0.01),
            write_then_signal(),
        ),
        timeout=30,
    )


Conflict = Callable[[Database, Counter[str], list[DatabaseError]], Awaitable[None]]
# How each backend is driven into a conflict it must abort, what it raises, and what
# its message says.
CONFLICTS: dict[str, tuple[Conflict, type[TransientError], str]] = {
    "postgresql": (deadlock, DeadlockDetected, "deadlock detected"),
    "mysql": (deadlock, DeadlockDetected, "Deadlock found"),
    "sqlite": (stale_snapshot, SerializationFailure, "snapshot is stale"),
}


async def test_a_real_conflict_aborted_by_the_database_is_retried_and_both_commit(
    notes_db: MakeDatabase, rawrepo_backend: str
) -> None:
    provoke, expected, message = CONFLICTS[rawrepo_backend]
    db = await notes_db(pool_size=2, max_overflow=0, pool_timeout=10)
    async with db.session() as session:
        await session.execute("rel.insert_note", id=1)
        await session.execute("rel.insert_note", id=2)
    attempts: Counter[str] = Counter()
    seen: list[DatabaseError] = []

    await provoke(db, attempts, seen)

    assert len(seen) == 1 and type(seen[0]) is expected, seen
    assert message in str(seen[0])
    assert sum(attempts.values()) == 3  # two bodies, one of them run again
    async with db.session() as session:
        assert await session.fetch_value("rel.note_n", id=1) == 2
        assert await session.fetch_value("rel.note_n", id=2) == 2
    assert db.pool is not None and db.pool.in_use == 0
