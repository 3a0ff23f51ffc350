"""A transaction the server rolled back is never reported as committed, and nothing of
the session runs outside it afterwards (rawrepo/database.py, the drivers'
``commit`` and ``transaction_lost``); savepoints never mask the error that cost the
transaction.

Each backend loses a transaction its own way: PostgreSQL aborts it at any failed
statement, InnoDB rolls back a deadlock victim, SQLite rolls back when the disk (here:
``max_page_count``) is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rawrepo import (
    Database,
    DatabaseError,
    DataError,
    DeadlockDetected,
    Session,
    TransactionRolledBackError,
    UniqueViolation,
)

SQL_DIR = Path(__file__).parent / "sql_core"
SEEDED = range(1, 7)


def item(id: int, name: str, qty: int = 0) -> dict[str, object]:
    return {"id": id, "parent_id": None, "name": name, "qty": qty}


@pytest_asyncio.fixture(loop_scope="session")
async def db(items_url: str) -> AsyncIterator[Database]:
    """The items database with items 1..6 (qty 0), on a pool of its own."""
    async with Database(items_url, sql_dir=SQL_DIR, pool_size=3, pool_timeout=10) as database:
        async with database.session() as session:
            await session.execute("items.delete_items")
            await session.execute("items.delete_parents")
            await session.execute_many("items.insert_item", [item(i, f"item-{i}") for i in SEEDED])
        yield database


async def stored(db: Database) -> dict[int, int]:
    """id -> qty of every stored item."""
    async with db.session() as session:
        return {row["id"]: row["qty"] for row in await session.fetch_all("items.list_items")}


# --- how each backend loses a transaction ------------------------------------------------


async def lose_by_failed_statement(db: Database, session: Session) -> DatabaseError:
    """PostgreSQL: any statement that fails aborts the whole transaction."""
    with pytest.raises(UniqueViolation) as info:
        await session.execute("items.insert_item", **item(50, "item-2"))
    return info.value


async def lose_by_deadlock(db: Database, session: Session) -> DatabaseError:
    """MySQL/MariaDB: InnoDB rolls back the deadlock victim, the transaction that did
    less; the session holds row 1, another session (more work: rows 2..6) row 2."""
    async with db.session() as other:
        for i in SEEDED[1:]:
            await other.execute("items.set_qty", id=i, qty=200 + i)
        blocked = asyncio.create_task(other.execute("items.set_qty", id=1, qty=201))
        with pytest.raises(DeadlockDetected) as info:
            await session.execute("items.set_qty", id=2, qty=102)
        assert await asyncio.wait_for(blocked, 20) == 1  # the survivor goes on
    return info.value


async def lose_by_full_disk(db: Database, session: Session) -> DatabaseError:
    """SQLite: a full database (SQLITE_FULL) rolls the transaction back."""
    raw: Any = session.connection.raw  # type: ignore[attr-defined]
    async with raw.execute("PRAGMA page_count") as cursor:
        (pages,) = await cursor.fetchone()
    await raw.execute(f"PRAGMA max_page_count = {pages}")
    try:
        with pytest.raises(DatabaseError, match="full") as info:
            await session.execute_many(
                "items.insert_item", [item(1000 + i, f"big-{i}") for i in range(5000)]
            )
    finally:
        await raw.execute("PRAGMA max_page_count = 1073741823")
    return info.value


LOSE: dict[str, Callable[[Database, Session], Awaitable[DatabaseError]]] = {
    "postgresql": lose_by_failed_statement,
    "mysql": lose_by_deadlock,
    "sqlite": lose_by_full_disk,
}


async def test_a_transaction_the_server_rolled_back_raises_instead_of_committing(
    db: Database, rawrepo_backend: str
) -> None:
    with pytest.raises(TransactionRolledBackError) as left:
        async with db.session() as session:
            assert await session.execute("items.set_qty", id=1, qty=101) == 1
            cause = await LOSE[rawrepo_backend](db, session)
            # The caller caught the error and goes on: nothing may run outside the
            # transaction (it would autocommit on MySQL and SQLite).
            with pytest.raises(TransactionRolledBackError) as later:
                await session.execute("items.insert_item", **item(100, "late"))
            assert later.value.error is cause
            with pytest.raises(TransactionRolledBackError):
                await session.fetch_all("items.list_items")
            # ... and the session ends normally: where COMMIT would report success.
    assert left.value.error is cause
    assert left.value.__cause__ is cause
    assert "rolled back" in str(left.value)
    after = await stored(db)
    assert 100 not in after
    assert after[1] != 101  # the session's first write is gone, and said to be
    assert not any(i >= 1000 for i in after)
    assert db.pool is not None and db.pool.in_use == 0
    async with db.session() as session:  # the connection serves the next session
        await session.execute("items.set_qty", id=3, qty=3)
    assert (await stored(db))[3] == 3


# What a caught constraint error does to the transaction: PostgreSQL aborts it, the
# others roll back only the failed statement. Either way no write is lost silently.
AFTER_A_CAUGHT_ERROR = {"postgresql": "rolled back", "mysql": "kept", "sqlite": "kept"}


async def test_a_caught_error_never_turns_into_a_silently_lost_write(
    db: Database, rawrepo_backend: str
) -> None:
    outcome = "kept"
    try:
        async with db.session() as session:
            await session.execute("items.insert_item", **item(10, "first"))
            with pytest.raises(UniqueViolation):
                await session.execute("items.insert_item", **item(11, "first"))
    except TransactionRolledBackError:
        outcome = "rolled back"
    assert outcome == AFTER_A_CAUGHT_ERROR[rawrepo_backend]
    assert (10 in await stored(db)) is (outcome == "kept")


async def test_a_failed_statement_inside_a_savepoint_keeps_the_transaction(
    db: Database,
) -> None:
    async with db.session() as session:
        await session.execute("items.set_qty", id=1, qty=101)
        with pytest.raises(UniqueViolation):
            async with session.savepoint():
                await session.execute("items.insert_item", **item(50, "item-2"))
        await session.execute("items.set_qty", id=2, qty=102)
    after = await stored(db)
    assert (after[1], after[2]) == (101, 102)
    assert 50 not in after


async def test_a_bad_argument_found_before_sending_does_not_cost_the_transaction(
    db: Database,
) -> None:
    async with db.session() as session:
        await session.execute("items.set_qty", id=1, qty=101)
        with pytest.raises(DataError):
            await session.execute("items.set_qty", id=2, qty=2**70)
        await session.execute("items.set_qty", id=3, qty=103)
    after = await stored(db)
    assert (after[1], after[2], after[3]) == (101, 0, 103)


async def test_an_error_that_cost_the_transaction_escapes_a_savepoint_as_it_is(
    db: Database, rawrepo_backend: str
) -> None:
    # A savepoint cannot bring back a transaction the server rolled back (MySQL, SQLite);
    # its ROLLBACK TO would fail ("SAVEPOINT does not exist") and must not replace the
    # error. PostgreSQL recovers through the savepoint, so there the same error escapes
    # the savepoint and the transaction lives on.
    with pytest.raises(DatabaseError) as escaped:
        async with db.session() as session:
            await session.execute("items.set_qty", id=1, qty=101)
            try:
                async with session.savepoint():
                    cause = await LOSE[rawrepo_backend](db, session)
                    raise cause
            except DatabaseError as exc:
                assert exc is cause
                raise
    assert escaped.value is cause


# --- retries ------------------------------------------------------------------------------


@pytest.mark.rawrepo_backends("postgresql", "mysql")  # SQLite's single writer never deadlocks
@pytest.mark.parametrize("swallow", [False, True], ids=["raised", "caught-by-fn"])
async def test_a_deadlock_inside_savepoints_is_retried_by_run_in_transaction(
    db: Database, swallow: bool
) -> None:
    # Two units lock rows 1 and 2 in opposite orders, each inside a savepoint, and meet
    # in between: a real deadlock. The victim must be run again, also when the unit
    # catches DeadlockDetected itself (the session's end then says the transaction was
    # rolled back, and its cause was transient).
    attempts = 0
    met = False
    both_hold_a_row = asyncio.Barrier(2)

    def unit(first: int, second: int, qty: int) -> Callable[[Session], Awaitable[None]]:
        async def work(session: Session) -> None:
            nonlocal attempts, met
            attempts += 1
            async with session.savepoint():
                await session.execute("items.set_qty", id=first, qty=qty)
                if not met:
                    await asyncio.wait_for(both_hold_a_row.wait(), 10)
                    met = True
                try:
                    await session.execute("items.set_qty", id=second, qty=qty)
                except DeadlockDetected:
                    if not swallow:
                        raise

        return work

    results = await asyncio.gather(
        db.run_in_transaction(unit(1, 2, 301), backoff=0.01),
        db.run_in_transaction(unit(2, 1, 302), backoff=0.01),
        return_exceptions=True,
    )
    assert results == [None, None]
    assert attempts == 3  # the deadlock victim ran once more
    after = await stored(db)
    assert after[1] == after[2]  # one unit ran wholly after the other
    assert after[1] in (301, 302)
