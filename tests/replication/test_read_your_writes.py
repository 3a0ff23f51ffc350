"""Read-your-writes by replication position, on real replicas made to lag on purpose
(replay paused, or an apply delay: ``recovery_min_apply_delay`` / ``MASTER_DELAY``),
so each test shows the session waited for the replica or fell back to the primary,
and a read without the token at the same moment saw the replica's stale data."""

from __future__ import annotations

import asyncio
import time

import pytest

from rawrepo import Database, Session

from .conftest import CatchUp, LagLog, MakeDatabase
from .servers import SQL_DIR, Topology

pytestmark = pytest.mark.rawrepo_backends("postgresql", "mysql")


async def port_of(session: Session) -> int:
    return int(await session.fetch_value("repl.server_port"))


async def stale_body(db: Database, id: int) -> str | None:
    """Note ``id``'s body as a replica has it now (a read-only session without a token)."""
    async with db.create_session(readonly=True, after=None) as stale:
        assert stale.replica is not None
        body: str | None = await stale.fetch_value("repl.get_body", id=id)
        return body


async def write(db: Database, id: int, body: str) -> str:
    async with db.create_session() as session:
        await session.execute("repl.insert_note", id=id, body=body)
    assert session.write_token is not None
    return session.write_token


async def test_a_committed_write_has_a_token_and_db_write_token_is_the_latest(
    topology: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db()
    assert db.write_token is None
    first = await write(db, 1, "one")
    assert db.write_token == first
    async with db.create_session() as session:
        await session.execute("repl.update_note", id=1, body="uno")
        await session.execute("repl.insert_note", id=2, body="two")
    second = session.write_token
    assert isinstance(second, str) and second != first
    assert db.replicas is not None
    assert db.replicas.ops.later(first, second) == second  # positions only grow
    assert db.write_token == second
    async with db.create_session() as session:  # reads only: no token, the latest stays
        await session.fetch_all("repl.note_ids")
    assert session.write_token is None and db.write_token == second
    with pytest.raises(RuntimeError):
        async with db.create_session() as session:
            await session.execute("repl.insert_note", id=3, body="three")
            raise RuntimeError("rolled back")
    assert session.write_token is None and db.write_token == second
    async with db.create_session(autocommit=True) as session:  # each write commits alone
        await session.execute("repl.insert_note", id=4, body="four")
    assert session.write_token is not None and db.write_token == session.write_token


async def test_an_autocommit_session_that_fails_later_still_records_its_committed_write(
    topology: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db(pool_size=1, max_overflow=0, pool_timeout=5)  # one connection only
    with pytest.raises(RuntimeError):
        async with db.create_session(autocommit=True) as session:
            await session.execute("repl.insert_note", id=1, body="kept")
            raise RuntimeError("after the write committed")
    assert session.write_token is not None and db.write_token == session.write_token
    async with db.create_session(readonly=True, after=session.write_token) as reader:
        assert await reader.fetch_value("repl.get_body", id=1) == "kept"


async def test_a_readonly_session_waits_until_a_paused_replica_has_the_write(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db(replica_wait=30)
    await topology.pause_all()
    await write(db, 1, "fresh")

    assert await stale_body(db, 1) is None  # the replica lags

    resuming = asyncio.Event()

    async def resume_soon() -> None:
        await asyncio.sleep(0.5)
        resuming.set()
        await topology.resume_all()

    task = asyncio.create_task(resume_soon())
    async with db.create_session(readonly=True) as session:  # after=db.write_token
        assert resuming.is_set()  # it could not start before a replica had the write
        assert session.replica is not None
        assert await port_of(session) in {r.port for r in topology.replicas}
        assert await session.fetch_value("repl.get_body", id=1) == "fresh"
    await task


async def test_a_readonly_session_reads_from_the_primary_when_no_replica_catches_up_in_time(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db(replica_wait=0.3)
    await topology.pause_all()
    await write(db, 1, "fresh")
    async with db.create_session(readonly=True) as session:
        assert session.replica is None
        assert await port_of(session) == topology.primary.port
        assert await session.fetch_value("repl.get_body", id=1) == "fresh"
    assert await stale_body(db, 1) is None
    assert db.replicas is not None and db.replicas.reads_on_primary == 1


async def test_with_an_apply_delay_a_read_waits_for_the_delayed_commit(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    # MariaDB's MASTER_DELAY counts whole seconds of the event's timestamp: 2 s delays
    # every commit by more than one second.
    for index in range(len(topology.replicas)):
        await topology.set_delay(index, 2)
    db = await repl_db(replica_wait=20)
    await write(db, 1, "late")
    assert await stale_body(db, 1) is None
    async with db.create_session(readonly=True) as session:
        assert session.replica is not None
        assert await session.fetch_value("repl.get_body", id=1) == "late"
    assert db.replicas is not None and db.replicas.reads_on_primary == 0


async def test_a_token_from_another_process_gives_the_same_guarantee(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    writer = await repl_db()
    reader = await repl_db(replica_wait=0.3)  # another process: its own write_token is None
    await topology.pause_all()
    token = await write(writer, 1, "from elsewhere")
    cookie = f" {token} "  # as it comes back from a cookie or a header
    assert reader.write_token is None
    async with reader.create_session(readonly=True) as session:  # no token: a replica
        assert session.replica is not None
        assert await session.fetch_value("repl.get_body", id=1) is None
    async with reader.create_session(readonly=True, after=cookie) as session:
        assert session.replica is None  # no replica has it: the primary
        assert await session.fetch_value("repl.get_body", id=1) == "from elsewhere"
    await topology.resume_all()
    reader_waits = await repl_db(replica_wait=30)
    async with reader_waits.create_session(readonly=True, after=token) as session:
        assert session.replica is not None
        assert await session.fetch_value("repl.get_body", id=1) == "from elsewhere"


async def test_replicas_apply_commits_within_moments_when_not_held_back(
    topology: Topology, repl_db: MakeDatabase, repl_database: str, lag_log: LagLog
) -> None:
    db = await repl_db(replica_wait=10)
    async with CatchUp(db, topology.replica_urls(repl_database)) as replicas:
        for i in range(20):
            async with db.create_session() as session:
                await session.execute("repl.insert_note", id=i, body=f"note {i}")
            committed_at = time.perf_counter()
            assert session.write_token is not None
            for seconds in await replicas.seconds(session.write_token, committed_at):
                lag_log(seconds)
            async with db.create_session(readonly=True) as session:
                assert session.replica is not None
                assert await session.fetch_value("repl.get_body", id=i) == f"note {i}"


async def test_without_replicas_the_token_is_never_fetched(
    topology: Topology, repl_database: str
) -> None:
    async with Database(topology.primary_url(repl_database), sql_dir=SQL_DIR) as db:
        assert db.replicas is None
        async with db.create_session() as session:
            await session.execute("repl.insert_note", id=1, body="one")
        assert session.write_token is None and db.write_token is None
        async with db.create_session(readonly=True, after=None) as session:
            assert await session.fetch_value("repl.get_body", id=1) == "one"
