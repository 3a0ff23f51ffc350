"""Replica faults on real servers: a replica stopped (it refuses connections), its
connections killed while idle or in the middle of a read, replication held back
beyond ``replica_max_lag``; reads keep working, on the other replica or the primary,
and ``health_check()`` says what it found (without a password)."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import quote

import pytest

from rawrepo import Database, Session
from tests.reliability.test_secrets import PASSWORD, secret_account

from .conftest import MakeDatabase
from .servers import SQL_DIR, Topology

pytestmark = pytest.mark.rawrepo_backends("postgresql", "mysql")


async def port_of(session: Session) -> int:
    return int(await session.fetch_value("repl.server_port"))


async def read_ports(db: Database, times: int, **kwargs: object) -> list[int]:
    ports = []
    for _ in range(times):
        async with db.create_session(readonly=True, **kwargs) as session:  # type: ignore[arg-type]
            ports.append(await port_of(session))
    return ports


async def test_a_stopped_replica_is_skipped_for_a_cool_down_then_used_again(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db(replica_cooldown=1.0)
    first, second = (r.port for r in topology.replicas)
    await topology.stop_replica(0)
    assert set(await read_ports(db, 6)) == {second}
    status = await db.health_check()
    assert status.healthy
    assert [r.healthy for r in status.replicas] == [False, True]
    assert status.replicas[0].error and status.replicas[0].lag_seconds is None
    assert status.replicas[1].error is None and status.replicas[1].lag_seconds is not None

    await topology.start_replica(0)
    await asyncio.sleep(1.2)  # past the cool-down
    assert first in await read_ports(db, 4)
    assert all(r.healthy for r in (await db.health_check()).replicas)


async def test_with_every_replica_down_reads_use_the_primary_and_nothing_fails(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db()
    async with db.create_session() as session:
        await session.execute("repl.insert_note", id=1, body="one")
    for index in range(len(topology.replicas)):
        await topology.stop_replica(index)
    for after in (..., None):
        async with db.create_session(readonly=True, after=after) as session:  # type: ignore[arg-type]
            assert session.replica is None
            assert await port_of(session) == topology.primary.port
            assert await session.fetch_value("repl.get_body", id=1) == "one"
    status = await db.health_check(timeout=2)
    assert status.healthy and status.error is None  # the primary serves everything
    assert [r.healthy for r in status.replicas] == [False] * len(topology.replicas)


async def test_idle_connections_a_replica_dropped_are_replaced_without_skipping_it(
    topology: Topology, repl_db: MakeDatabase, repl_database: str
) -> None:
    db = await repl_db(replicas=[0], pool_size=3)

    async def hold() -> None:
        async with db.create_session(readonly=True) as session:
            await session.fetch_all("repl.note_ids")
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(3)))
    assert db.replicas is not None and db.replicas.replicas[0].pool.idle == 3
    assert await topology.kill_replica_connections(0, repl_database) >= 3
    for _ in range(4):
        async with db.create_session(readonly=True) as session:
            assert await session.fetch_all("repl.note_ids") == []
            assert session.replica is not None  # still the replica: it did not go away
    assert db.replicas.replicas[0].error is None


async def test_a_read_whose_replica_connection_dies_midway_runs_again_elsewhere(
    topology: Topology, repl_db: MakeDatabase, repl_database: str
) -> None:
    db = await repl_db(replica_wait=10)
    async with db.create_session() as session:
        await session.execute("repl.insert_note", id=1, body="survives")
    async with db.create_session(readonly=True) as session:
        port = await port_of(session)
        victim = [r.port for r in topology.replicas].index(port)
        read = asyncio.create_task(session.fetch_value("repl.slow_body", id=1, seconds=1))
        await asyncio.sleep(0.3)
        assert await topology.kill_replica_connections(victim, repl_database) >= 1
        assert await read == "survives"  # no error: it ran again on the other replica
        assert session.replica is not None
        assert f":{topology.replicas[victim].port}/" not in session.replica
        assert await port_of(session) == topology.replicas[1 - victim].port
    assert db.replicas is not None
    skipped = db.replicas.replicas[victim]
    assert skipped.error is not None and skipped.down_until > time.monotonic()
    assert set(await read_ports(db, 3)) == {topology.replicas[1 - victim].port}


async def test_a_replica_lagging_beyond_max_lag_is_skipped_until_it_catches_up(
    topology: Topology, restore: Topology, repl_db: MakeDatabase
) -> None:
    db = await repl_db(replica_max_lag=0.5, replica_cooldown=0.5)
    first, second = (r.port for r in topology.replicas)
    assert set(await read_ports(db, 4, after=None)) == {first, second}
    await topology.pause(0)
    async with db.create_session() as session:
        await session.execute("repl.insert_note", id=1, body="held back")
    await asyncio.sleep(1.2)  # replica 0 now lags (PostgreSQL) or has stopped (MariaDB)
    assert set(await read_ports(db, 4, after=None)) == {second}
    status = await db.health_check()
    lagging = status.replicas[0]
    assert not lagging.healthy and lagging.error is not None and "lag" in lagging.error
    if lagging.lag_seconds is not None:  # PostgreSQL: how long since it last applied
        assert lagging.lag_seconds > 0.5
    assert status.replicas[1].healthy

    await topology.resume(0)
    await asyncio.sleep(1.6)  # past the cool-down and the cached lag measurement
    assert first in await read_ports(db, 4, after=None)
    assert (await db.health_check()).replicas[0].healthy


async def test_health_and_logs_of_replicas_never_show_a_password(
    topology: Topology,
    restore: Topology,
    repl_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await secret_account(topology.primary)
    await topology.wait_for_replicas(repl_database)
    scheme = topology.scheme
    working = topology.replicas[0].url_for(repl_database, user="rr_secret", password=PASSWORD)
    refused = f"{scheme}://rr_secret:{quote(PASSWORD, safe='')}@127.0.0.1:1/{repl_database}"
    caplog.set_level(logging.DEBUG)
    async with Database(
        topology.primary_url(repl_database),
        sql_dir=SQL_DIR,
        replica_urls=[working, refused],
        connect_timeout=2,
    ) as db:
        for _ in range(4):
            async with db.create_session(readonly=True) as session:
                assert await port_of(session) == topology.replicas[0].port
        status = await db.health_check(timeout=2)
        text = "\n".join([repr(db), repr(db.settings), repr(status), str(status), caplog.text])
    assert [r.healthy for r in status.replicas] == [True, False]
    assert status.replicas[1].url == f"{scheme}://rr_secret:***@127.0.0.1:1/{repl_database}"
    assert status.replicas[1].error
    assert "skipped" in caplog.text  # the refusing replica was logged, masked
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text


# With a lag limit, what a login without monitoring privileges finds on the replicas:
# PostgreSQL shows anyone the WAL receiver's pid, enough to measure the lag; MariaDB's
# SHOW SLAVE STATUS needs a privilege, so the lag is unknown and the limit skips them.
LAG_WITHOUT_PRIVILEGES: dict[str, tuple[bool, str | None]] = {
    "postgresql": (True, None),
    "mysql": (False, "SLAVE MONITOR"),
}


async def test_a_login_without_monitoring_privileges_reads_from_the_replicas(
    topology: Topology, repl_database: str, rawrepo_backend: str
) -> None:
    async with (
        Database(topology.primary_url(repl_database), sql_dir=SQL_DIR) as admin,
        admin.session() as session,
    ):
        await session.execute("repl.plain_login_1")
        await session.execute("repl.plain_login_2")
    await topology.wait_for_replicas(repl_database)
    urls = [
        r.url_for(repl_database, user="rr_plain", password="plain-pw") for r in topology.replicas
    ]
    primary = topology.primary_url(repl_database)
    async with Database(primary, sql_dir=SQL_DIR, replica_urls=urls) as db:
        for _ in range(2):
            async with db.create_session(readonly=True) as session:
                assert session.replica is not None
                assert await session.fetch_all("repl.note_ids") == []
    healthy, error = LAG_WITHOUT_PRIVILEGES[rawrepo_backend]
    async with Database(primary, sql_dir=SQL_DIR, replica_urls=urls, replica_max_lag=30) as db:
        async with db.create_session(readonly=True) as session:
            assert (session.replica is not None) is healthy
        status = await db.health_check()
    assert [r.healthy for r in status.replicas] == [healthy] * len(urls)
    for replica in status.replicas:
        assert (replica.error is None) if error is None else (error in (replica.error or ""))
