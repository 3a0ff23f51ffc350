"""A database password never appears in any output: SQL echo and every other log record,
error messages and their whole cause chains (``str``, ``repr``, tracebacks), health
reports, reprs, and the CLI's stdout/stderr. Real accounts with passwords on the
throwaway servers; real successes and real failures (wrong password, unknown
database, constraint errors, bad SQL, migrations).

SQLite URLs carry no credentials, so this is about PostgreSQL and MySQL only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from rawrepo import Database, RawRepoError, migrate
from rawrepo.config import parse_url
from rawrepo.drivers.base import load_driver
from rawrepo.models import TaskCreate, UserCreate
from rawrepo.repositories import TaskRepository, UserRepository
from rawrepo.services import UserService

from .servers import SQL_DIR, ThrowawayServer

PASSWORD = "s3cr%t:P@ss/w#rd'x"
WRONG = "wr0ng%:P@ss/w#rd'y"
pytestmark = pytest.mark.rawrepo_backends("postgresql", "mysql")


def forms(secret: str) -> set[str]:
    """How a password may be spelled in text: as is, or escaped for a URL."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


def leaks(text: str) -> list[str]:
    return [f for s in (PASSWORD, WRONG) for f in forms(s) if f in text]


def describe_error(exc: BaseException) -> str:
    """Everything an error shows: its traceback with every cause and context, and the
    str/repr/args of each exception in the chain."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts += (
            [f"{k}={v!r}" for k, v in vars(current).items()] if hasattr(current, "__dict__") else []
        )
        todo += [current.__cause__, current.__context__]
    return "\n".join(parts)


async def secret_account(server: ThrowawayServer) -> None:
    """Create the ``rr_secret`` account with PASSWORD once per server."""
    if getattr(server, "secret_ready", False):
        return
    async with Database(server.admin_url, sql_dir=SQL_DIR) as admin, admin.session() as session:
        for name in ("rel.secret_account_1", "rel.secret_account_2"):
            params = {"password": PASSWORD} if "password" in session.query(name).params else {}
            await session.execute(name, **params)
    server.secret_ready = True  # type: ignore[attr-defined]


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    """``python -m rawrepo ARGS`` with SQL_ECHO on; returns stdout and stderr together."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.update({"SQL_ECHO": "1", **(env or {})})
    done = subprocess.run(
        [sys.executable, "-m", "rawrepo", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )
    command = " ".join(a for a in args if "://" not in a)  # not the URL we passed in
    return f"$ rawrepo {command} -> {done.returncode}\n{done.stdout}\n{done.stderr}"


async def test_no_output_ever_holds_the_password(
    fault_server: ThrowawayServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await secret_account(fault_server)
    name = f"rel_secret_{os.getpid()}"
    admin = load_driver(parse_url(fault_server.admin_url))
    await admin.drop_database(name)
    await admin.create_database(name)
    good = fault_server.url_for(name, user="rr_secret", password=PASSWORD)
    wrong = fault_server.url_for(name, user="rr_secret", password=WRONG)
    missing = fault_server.url_for("rel_no_such_db", user="rr_secret", password=PASSWORD)
    monkeypatch.setenv("SQL_ECHO", "1")
    outputs: list[str] = []
    errors: list[BaseException] = []

    async def expect_error(call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except (RawRepoError, ValueError) as exc:
            errors.append(exc)
        else:
            pytest.fail("the call was expected to fail")

    caplog.set_level(logging.DEBUG)
    # Successes: migrations, sessions with SQL echo, health, reprs.
    outputs += [str(r) for r in await asyncio.to_thread(migrate.apply, good, bundled=True)]
    outputs += [str(s) for s in await asyncio.to_thread(migrate.status, good, bundled=True)]
    users, user_repo, task_repo = UserService(), UserRepository(), TaskRepository()
    async with Database(good, echo=True) as db:
        outputs += [repr(db), str(db.url), repr(db.url), repr(db.settings), repr(db.driver)]
        async with db.session() as session:
            alice = await users.create_user(session, UserCreate(username="alice"))
        outputs.append(repr(await db.health_check()))
        # Failures inside sessions: constraint errors and bad SQL.
        await expect_error(
            lambda: _in_session(db, lambda s: users.create_user(s, UserCreate(username="ALICE")))
        )
        await expect_error(
            lambda: _in_session(db, lambda s: user_repo.create(s, UserCreate(username="alice")))
        )
        await expect_error(
            lambda: _in_session(
                db, lambda s: task_repo.create(s, TaskCreate(title="t", user_id=alice.id.int ^ 1))
            )
        )
        async with Database(good, sql_dir=SQL_DIR) as raw:
            await expect_error(lambda: _in_session(raw, lambda s: s.execute("rel.bad_syntax")))
    # Failures to connect: wrong password, unknown database.
    for url in (wrong, missing):
        db = Database(url, echo=True, pool_timeout=5)
        outputs += [repr(db), str(db.url)]
        await expect_error(
            lambda db=db: _in_session(
                db, lambda s: s.fetch_all("users.get_multi", username=None, limit=1, offset=0)
            )
        )
        status = await db.health_check(timeout=3)
        assert not status.healthy
        outputs += [repr(status), str(status.error)]
        await db.disconnect()
        await expect_error(lambda url=url: asyncio.to_thread(migrate.apply, url, bundled=True))
        await expect_error(lambda url=url: asyncio.to_thread(migrate.status, url, bundled=True))
    # The command line, with the URL as an option and from the environment.
    runs = [
        asyncio.to_thread(cli, *command, "--url", url)
        for url in (good, wrong, missing)
        for command in (("migrate", "status", "--bundled"), ("sql", "check"))
    ]
    runs += [
        asyncio.to_thread(cli, "migrate", "apply", "--bundled", env={"DATABASE_URL": u})
        for u in (good, wrong)
    ]
    runs.append(asyncio.to_thread(cli, "migrate", "break-lock", "--url", wrong))
    outputs += await asyncio.gather(*runs)

    await admin.drop_database(name)
    assert len(errors) == 10
    texts = {
        "output": "\n".join(outputs),
        "log records": caplog.text
        + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records),
        "errors": "\n".join(describe_error(e) for e in errors),
    }
    for where, text in texts.items():
        assert not leaks(text), f"a password appears in the {where}"
    # The checks saw what they were meant to see.
    assert "rr_secret:***@" in texts["output"]
    assert "password authentication failed" in texts["errors"] or "Access denied" in texts["errors"]
    assert "users.create" in caplog.text  # SQL echo was on
    assert "-> 0" in texts["output"] and "-> 1" in texts["output"]


async def _in_session(db: Database, work: Callable[[Any], Awaitable[Any]]) -> None:
    async with db.session() as session:
        await work(session)
