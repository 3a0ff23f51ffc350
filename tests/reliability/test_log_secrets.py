"""Nothing secret reaches a log record at any level, from rawrepo or from the driver
libraries under it: with the root logger at DEBUG, a URL with a real password (the
throwaway servers' ``rr_secret`` account) and recognisable parameter values, no record's
text or arguments hold either. (aiosqlite logs every call it runs at DEBUG, with its
arguments.)"""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from rawrepo import Database, migrate
from rawrepo.config import parse_url
from rawrepo.drivers.base import load_driver
from rawrepo.models import TaskCreate, UserCreate
from rawrepo.repositories import TaskRepository
from rawrepo.services import UserService

from .servers import SQL_DIR, ThrowawayServer
from .test_secrets import PASSWORD, forms, secret_account

VALUE = "parameter-value-5521-secret"


def record_texts(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )


async def test_no_log_record_at_debug_holds_a_parameter_value_or_the_password(
    fault_server: ThrowawayServer, caplog: pytest.LogCaptureFixture
) -> None:
    if fault_server.backend != "sqlite":
        await secret_account(fault_server)
    name = f"rel_logs_{os.getpid()}"
    admin = load_driver(parse_url(fault_server.admin_url))
    await admin.drop_database(name)
    await admin.create_database(name)
    url = fault_server.url_for(name, user="rr_secret", password=PASSWORD)
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    try:
        await asyncio.to_thread(migrate.apply, url)
        for echo in (False, True):
            async with Database(url, echo=echo) as db:
                async with db.session() as session:
                    user = await UserService().create_user(
                        session, UserCreate(username=f"user{int(echo)}", email=f"{VALUE}@x.example")
                    )
                    await TaskRepository().bulk_create(
                        session,
                        [TaskCreate(title=f"{VALUE} {i}", user_id=user.id) for i in range(3)],
                    )
                    found = await TaskRepository().search_by_title(session, VALUE)
                assert len(found) == 3 * (1 + echo)
                assert (await db.health_check()).healthy
        async with Database(url, sql_dir=SQL_DIR) as db, db.session() as session:
            await session.execute("rel.create_notes")
            await session.execute("rel.insert_note", id=1)
    finally:
        await admin.drop_database(name)
    text = record_texts(caplog)
    assert "users.create" in text  # SQL echo was on: records were captured
    assert VALUE not in text, "a parameter value reached a log record"
    assert not [f for f in forms(PASSWORD) if f in text], "the password reached a log record"
    if fault_server.backend == "sqlite":
        assert any(r.name == "aiosqlite" for r in caplog.records)  # its records, cleaned
