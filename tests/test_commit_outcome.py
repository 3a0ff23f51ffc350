"""A lost connection: retried when nothing was committed, reported as unknown when the
COMMIT was sent (issue 14, items 2 and 3).

A fault proxy (tests/fault_proxy.py) between rawrepo and the real server cuts one
connection at a chosen message, so each case happens every time, on PostgreSQL and on
both MySQL drivers. SQLite has no connection to lose; its sessions cannot meet these
failures, and these tests do not run there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from rawrepo import Database, Session
from rawrepo.config import parse_url
from rawrepo.errors import CommitOutcomeUnknownError, ConnectionFailed, ConnectionLost
from rawrepo.models import Task, TaskCreate
from rawrepo.repositories import TaskRepository
from rawrepo.services.task import TaskService
from rawrepo.testing import DatabaseFactory, backend_server_url, target_dialect, target_url
from tests.cluster.workload import new_user, read_titles
from tests.fault_proxy import FaultProxy

pytestmark = pytest.mark.backend

SERVER_TARGETS = ["postgresql", "mysql", "mysql+asyncmy"]

MakeDb = Callable[..., Awaitable[Database]]


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=SERVER_TARGETS)
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database on the shared server of the target (in its driver's scheme)."""
    target: str = request.param
    backend = target_dialect(target)
    server = target_url(backend_server_url(backend), target)
    factory = DatabaseFactory(backend, server, Path(tmp_path_factory.mktemp("outcome")))
    try:
        yield await factory.create_migrated(None)
    finally:
        await factory.drop_all()


@pytest_asyncio.fixture(loop_scope="session")
async def proxied(migrated: str) -> AsyncIterator[tuple[FaultProxy, MakeDb]]:
    """A fault proxy in front of the server, and ``await make_db(url_hosts=...)``:
    Databases reaching the migrated database through it (disconnected at the end)."""
    url = parse_url(migrated)
    assert url.port is not None
    databases: list[Database] = []
    async with FaultProxy(url.port) as proxy:

        async def make_db(hosts: str | None = None, **settings: object) -> Database:
            netloc = hosts or f"127.0.0.1:{proxy.port}"
            auth = f"{url.username}@" if url.username else ""
            settings.setdefault("pool_size", 2)
            db = Database(f"{url.scheme}://{auth}{netloc}/{url.database}", **settings)  # type: ignore[arg-type]
            await db.connect()
            databases.append(db)
            return db

        try:
            yield proxy, make_db
        finally:
            for db in databases:
                await db.disconnect()


async def _stored(db: Database, user_id: uuid.UUID, title: str) -> int:
    return (await read_titles(db, user_id))[title]


def _creator(
    user_id: uuid.UUID, title: str, calls: list[int]
) -> Callable[[Session], Awaitable[Task]]:
    async def create(session: Session) -> Task:
        calls.append(1)
        return await TaskService().create(session, TaskCreate(title=title, user_id=user_id))

    return create


async def test_a_connection_lost_before_commit_is_retried_and_the_write_is_stored_once(
    proxied: tuple[FaultProxy, MakeDb],
) -> None:
    proxy, make_db = proxied
    db = await make_db()
    user_id = await new_user(db)
    calls: list[int] = []
    proxy.cut(b"rawrepo:tasks.create", "before")

    task = await db.run_in_transaction(_creator(user_id, "lost-before", calls), backoff=0.01)

    assert proxy.cuts == 1
    assert len(calls) == 2  # the first run lost its connection; the retry went through
    assert task.title == "lost-before"
    assert await _stored(db, user_id, "lost-before") == 1


async def test_the_lost_statement_raises_connection_lost_when_retries_are_off(
    proxied: tuple[FaultProxy, MakeDb],
) -> None:
    proxy, make_db = proxied
    db = await make_db()
    user_id = await new_user(db)
    proxy.cut(b"rawrepo:tasks.create", "before")

    with pytest.raises(ConnectionLost) as caught:
        await db.run_in_transaction(_creator(user_id, "no-retry", []), retries=0)

    assert caught.value.host == f"127.0.0.1:{proxy.port}"
    assert await _stored(db, user_id, "no-retry") == 0


async def test_a_connection_lost_after_commit_was_sent_is_unknown_and_never_retried(
    proxied: tuple[FaultProxy, MakeDb],
) -> None:
    proxy, make_db = proxied
    db = await make_db()
    user_id = await new_user(db)
    calls: list[int] = []
    proxy.cut(b"COMMIT", "after")

    with pytest.raises(CommitOutcomeUnknownError) as caught:
        await db.run_in_transaction(_creator(user_id, "committed", calls), backoff=0.01)

    assert len(calls) == 1  # not retried: that would have stored the task twice
    assert isinstance(caught.value.error, ConnectionFailed)
    assert caught.value.__cause__ is caught.value.error
    assert caught.value.host == f"127.0.0.1:{proxy.port}"
    assert "may or may not" in str(caught.value)
    # the server did commit: reading back resolves the unknown outcome
    assert await _stored(db, user_id, "committed") == 1


async def test_a_commit_cut_before_the_server_got_it_is_unknown_too_and_stores_nothing(
    proxied: tuple[FaultProxy, MakeDb],
) -> None:
    proxy, make_db = proxied
    db = await make_db()
    user_id = await new_user(db)
    proxy.cut(b"COMMIT", "before")

    with pytest.raises(CommitOutcomeUnknownError):
        async with db.create_session() as session:
            await TaskService().create(session, TaskCreate(title="never", user_id=user_id))

    assert await _stored(db, user_id, "never") == 0


async def test_an_autocommit_write_whose_connection_is_lost_is_unknown(
    proxied: tuple[FaultProxy, MakeDb],
) -> None:
    proxy, make_db = proxied
    db = await make_db()
    user_id = await new_user(db)
    # the title is in the message that runs the INSERT (PostgreSQL's Bind, MySQL's query)
    proxy.cut(b"autocommitted", "after")

    with pytest.raises(CommitOutcomeUnknownError):
        async with db.create_session(autocommit=True) as session:
            await TaskRepository().create(
                session, TaskCreate(title="autocommitted", user_id=user_id)
            )

    assert await _stored(db, user_id, "autocommitted") == 1  # applied once, not re-sent


async def test_a_dead_first_host_is_skipped_and_tried_first_no_more(
    proxied: tuple[FaultProxy, MakeDb], unused_tcp_port: int
) -> None:
    proxy, make_db = proxied
    async with FaultProxy(unused_tcp_port) as dead:  # forwards to a port nobody serves
        db = await make_db(f"127.0.0.1:{dead.port},127.0.0.1:{proxy.port}", pool_size=3)
        user_id = await new_user(db)
        async with db.create_session() as a, db.create_session() as b:
            for session in (a, b):
                await TaskService().create(
                    session, TaskCreate(title=f"via-{id(session)}", user_id=user_id)
                )
        health = await db.health_check()

    assert health.healthy, health.error
    assert health.host == f"127.0.0.1:{proxy.port}"
    assert dead.connections == 1  # after the first failure the live host is tried first


async def test_no_live_host_is_a_connection_lost_naming_every_host_without_the_password(
    unused_tcp_port_factory: Callable[[], int], migrated: str
) -> None:
    url = parse_url(migrated)
    ports = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    db = Database(f"{url.scheme}://app:s3cret-pw@{hosts}/{url.database}", pool_timeout=5)
    try:
        with pytest.raises(ConnectionLost) as caught:
            async with db.create_session():
                pass
        health = await db.health_check()
    finally:
        await db.disconnect()

    text = str(caught.value)
    for port in ports:
        assert f"127.0.0.1:{port}" in text
        assert f"127.0.0.1:{port}" in (health.error or "")
    assert "s3cret-pw" not in text and "s3cret-pw" not in (health.error or "")
    assert not health.healthy and health.host is None


@pytest.mark.parametrize("migrated", ["postgresql"], indirect=True)
async def test_a_server_that_turned_read_only_counts_as_gone_and_its_connection_is_dropped(
    proxied: tuple[FaultProxy, MakeDb],
) -> None:
    """PostgreSQL's SQLSTATE 25006 (as from a primary demoted to a standby): the write
    raises ConnectionLost, nothing is stored, the connection is never handed out again,
    and run_in_transaction's retry on a new connection stores the task once. (MySQL's
    read-only server, 1290, is global: it would need a server of its own.)"""
    _, make_db = proxied
    db = await make_db(pool_size=1, max_overflow=0)
    user_id = await new_user(db)
    async with db.create_session(autocommit=True) as session:
        demoted = session.connection
        await demoted.raw.execute("SET default_transaction_read_only = on")  # type: ignore[attr-defined]

    with pytest.raises(ConnectionLost) as caught:
        async with db.create_session() as session:
            assert session.connection is demoted
            await TaskService().create(session, TaskCreate(title="read-only", user_id=user_id))
    assert caught.value.sqlstate == "25006"
    assert demoted.is_closed()
    assert await _stored(db, user_id, "read-only") == 0

    calls: list[int] = []
    async with db.create_session(autocommit=True) as session:
        demoted = session.connection
        await demoted.raw.execute("SET default_transaction_read_only = on")  # type: ignore[attr-defined]
    task = await db.run_in_transaction(_creator(user_id, "after-demotion", calls), backoff=0.01)
    assert len(calls) == 2 and task.title == "after-demotion"
    assert await _stored(db, user_id, "after-demotion") == 1
