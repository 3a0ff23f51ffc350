"""Routing by session on real replicas: read-only sessions on the replicas in turn,
every other session on the primary, writes rejected before anything is sent."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest

from rawrepo import Database, ReadOnlySessionError, Session
from rawrepo.models import UserCreate
from rawrepo.repositories import UserRepository
from rawrepo.services import UserService
from rawrepo.testing import backend_server_url, target_url

from .conftest import MakeDatabase
from .servers import SQL_DIR, Topology

pytestmark = pytest.mark.rawrepo_backends("postgresql", "mysql")


async def port_of(session: Session) -> int:
    return int(await session.fetch_value("repl.server_port"))


async def test_readonly_sessions_take_the_replicas_in_turn(
    topology: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db()
    ports = []
    for _ in range(6):
        async with db.create_session(readonly=True) as session:
            ports.append(await port_of(session))
            assert session.replica is not None and f":{ports[-1]}/" in session.replica
    replica_ports = {replica.port for replica in topology.replicas}
    assert set(ports) == replica_ports
    assert all(a != b for a, b in itertools.pairwise(ports))  # round-robin


async def test_concurrent_readonly_sessions_spread_over_the_replicas_pools(
    topology: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db(pool_size=2, max_overflow=0)

    async def read() -> int:
        async with db.create_session(readonly=True) as session:
            await asyncio.sleep(0.05)
            return await port_of(session)

    ports = await asyncio.gather(*(read() for _ in range(8)))
    assert set(ports) == {replica.port for replica in topology.replicas}
    assert db.pool is not None and db.pool.size == 0  # the primary's pool was not touched
    assert db.replicas is not None
    assert all(r.pool.size <= 2 for r in db.replicas.replicas)  # each its own pool, same size


async def test_default_sessions_always_use_the_primary_even_for_reads(
    topology: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db()
    for _ in range(3):
        async with db.create_session() as session:
            assert await port_of(session) == topology.primary.port
            assert session.replica is None and not session.readonly
        async with db.session(autocommit=True) as session:
            assert await port_of(session) == topology.primary.port


async def test_a_write_in_a_readonly_session_raises_naming_the_query_and_sends_nothing(
    topology: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db()
    with pytest.raises(ReadOnlySessionError) as info:
        async with db.create_session(readonly=True) as session:
            await session.fetch_all("repl.note_ids")
            await session.execute("repl.insert_note", id=1, body="never")
    assert info.value.query == "repl.insert_note"
    assert "repl.insert_note" in str(info.value) and "read-only" in str(info.value)
    assert not session.in_transaction
    async with db.create_session() as primary:
        assert await primary.fetch_all("repl.note_ids") == []


async def test_a_readonly_session_on_the_primary_also_rejects_writes(
    topology: Topology, repl_database: str
) -> None:
    # Without replicas the session runs on the primary, which would take the write.
    async with Database(topology.primary_url(repl_database), sql_dir=SQL_DIR) as db:
        async with db.create_session(readonly=True) as session:
            assert session.readonly and session.replica is None
            assert await port_of(session) == topology.primary.port
            with pytest.raises(ReadOnlySessionError):
                await session.execute("repl.insert_note", id=1, body="never")
            with pytest.raises(ReadOnlySessionError):
                await session.execute_many("repl.insert_note", [{"id": 2, "body": "never"}])
        async with db.create_session() as session:
            assert await session.fetch_all("repl.note_ids") == []


async def test_repositories_and_services_take_a_readonly_session_as_it_is(
    topology: Topology, repl_database: str
) -> None:
    from rawrepo import migrate

    await asyncio.to_thread(migrate.apply, topology.primary_url(repl_database))
    async with Database(
        topology.primary_url(repl_database),
        replica_urls=topology.replica_urls(repl_database),
        replica_wait=10,
    ) as db:
        service, repo = UserService(), UserRepository()
        async with db.create_session() as session:
            name = f"alice{uuid.uuid4().hex[:8]}"
            alice = await service.create_user(session, UserCreate(username=name))
        async with db.create_session(readonly=True) as session:
            assert session.replica is not None
            found = await repo.get(session, alice.id)
            assert found is not None and found.username == name
            assert (await service.get_user(session, alice.id)).id == alice.id
            with pytest.raises(ReadOnlySessionError):
                await service.create_user(session, UserCreate(username=f"u{uuid.uuid4().hex[:8]}"))


async def test_a_replica_url_that_leads_to_the_primary_serves_reads_with_every_write(
    topology: Topology, repl_database: str
) -> None:
    # Code written for replicas before they exist: DATABASE_REPLICA_URLS=$DATABASE_URL.
    primary = topology.primary_url(repl_database)
    async with Database(primary, sql_dir=SQL_DIR, replica_urls=[primary], replica_wait=0) as db:
        async with db.create_session() as session:
            await session.execute("repl.insert_note", id=1, body="mine")
        assert db.write_token is not None
        async with db.create_session(readonly=True) as session:  # no wait allowed: it has it
            assert session.replica is not None
            assert await port_of(session) == topology.primary.port
            assert await session.fetch_value("repl.get_body", id=1) == "mine"
        (status,) = (await db.health_check()).replicas
    assert status.healthy and status.lag_seconds == 0 and status.error is None


async def test_a_server_that_replicates_from_nobody_is_not_used_as_a_replica(
    topology: Topology, repl_database: str, rawrepo_target: str, rawrepo_backend: str
) -> None:
    standalone = target_url(backend_server_url(rawrepo_backend), rawrepo_target)
    async with Database(
        topology.primary_url(repl_database), sql_dir=SQL_DIR, replica_urls=[standalone]
    ) as db:
        async with db.create_session(readonly=True, after=None) as session:
            assert session.replica is None  # skipped: its data is not the primary's
            assert await port_of(session) == topology.primary.port
        (status,) = (await db.health_check()).replicas
    assert not status.healthy and status.error is not None and "not a replica" in status.error
