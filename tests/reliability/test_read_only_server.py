"""A server that turns read-only under the pool, as a primary demoted by a failover
manager does (issue 14, item 2): PostgreSQL answers SQLSTATE 25006 to a write,
MariaDB with ``read_only`` 1290 (to an account without READ_ONLY ADMIN). Such a server
counts as gone for writes: the write raises ConnectionLost, nothing of it is stored,
its connection is never handed out again, and ``run_in_transaction`` keeps retrying
until the server (or, with several hosts, another one) takes writes again.

On throwaway servers, as the setting is server-wide. SQLite has no server to demote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from rawrepo import Database, Session
from rawrepo.errors import ConnectionLost

from .conftest import MakeDatabase
from .servers import SQL_DIR, ThrowawayServer

pytestmark = pytest.mark.rawrepo_backends("postgresql", "mysql")

READ_ONLY_ERRORS = {"postgresql": "25006", "mysql": "1290"}


async def set_read_only(server: ThrowawayServer, on: bool) -> None:
    async with (
        Database(server.admin_url, sql_dir=SQL_DIR) as admin,
        admin.create_session(autocommit=True) as session,  # ALTER SYSTEM: no transaction
    ):
        await session.execute("rel.read_only_on" if on else "rel.read_only_off")
        if server.backend == "postgresql":
            await session.fetch_value("rel.reload")


@pytest_asyncio.fixture(loop_scope="session")
async def writer(fault_server: ThrowawayServer, fault_db: MakeDatabase) -> AsyncIterator[Database]:
    """A Database on a fresh database of the throwaway server, as an account that the
    read-only setting binds (MariaDB's root is exempt from it); the server is writable
    again afterwards."""
    db = await fault_db(pool_size=2, max_overflow=0)
    if fault_server.backend == "postgresql":
        app = db  # default_transaction_read_only binds the superuser too
    else:
        async with db.create_session(autocommit=True) as session:
            for name in ("rel.app_account_1", "rel.app_account_2"):
                await session.execute(name)
        url = fault_server.url_for(db.url.database or "", user="rr_app")
        app = Database(url, sql_dir=SQL_DIR, pool_size=2, max_overflow=0, connect_timeout=2)
    try:
        yield app
    finally:
        await set_read_only(fault_server, False)
        if app is not db:
            await app.disconnect()


async def stored(db: Database) -> set[int]:
    async with db.create_session() as session:
        return {row["id"] for row in await session.fetch_all("rel.note_ids")}


async def test_a_server_turned_read_only_loses_the_write_and_its_connection(
    fault_server: ThrowawayServer, writer: Database
) -> None:
    async with writer.create_session() as session:
        await session.execute("rel.insert_note", id=1)
        warm = session.connection  # a pooled connection from before the demotion
    await set_read_only(fault_server, True)

    with pytest.raises(ConnectionLost) as caught:
        async with writer.create_session() as session:
            assert session.connection is warm
            await session.execute("rel.insert_note", id=2)

    assert caught.value.sqlstate == READ_ONLY_ERRORS[fault_server.backend]
    assert warm.is_closed()  # never handed out again
    async with writer.create_session() as session:
        assert session.connection is not warm
    assert await stored(writer) == {1}


async def test_run_in_transaction_writes_once_the_server_takes_writes_again(
    fault_server: ThrowawayServer, writer: Database
) -> None:
    calls: list[int] = []

    async def insert(session: Session) -> None:
        calls.append(1)
        await session.execute("rel.insert_note", id=3)

    await set_read_only(fault_server, True)
    running = asyncio.create_task(
        writer.run_in_transaction(insert, retries=200, backoff=0.02, max_backoff=0.1)
    )
    await asyncio.sleep(1.0)
    assert not running.done()  # still retrying: every attempt met the read-only server
    await set_read_only(fault_server, False)
    await asyncio.wait_for(running, timeout=30)

    assert len(calls) > 2
    assert await stored(writer) == {3}
