"""rawrepo.integrations.fastapi over HTTP (httpx's ASGI transport), on every backend: the
lifespan, SessionDep committing before the response is sent and rolling back on errors,
ReadSessionDep refusing writes, and the one error mapping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from rawrepo import Database, Session
from rawrepo.errors import CommitOutcomeUnknownError
from rawrepo.integrations.fastapi import (
    DatabaseDep,
    ReadSessionDep,
    SessionDep,
    install_error_handlers,
    lifespan,
)
from rawrepo.models import UserCreate
from rawrepo.repositories import UserRepository
from rawrepo.services import UserService
from tests.conftest import CORE_SQL_DIR

users = UserService()
user_repo = UserRepository()
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


def name() -> str:
    return f"fa_{uuid.uuid4().hex[:12]}"


async def user_exists(url: str, username: str) -> bool:
    """Whether ``username`` is committed, seen from a connection of its own."""
    async with Database(url) as db, db.session() as session:
        return await user_repo.get_by_username(session, username) is not None


@asynccontextmanager
async def serve(
    app: FastAPI, *, observe: Callable[[], Awaitable[object]] | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, list[object]]]:
    """An HTTP client on ``app`` with its lifespan running. ``observe`` runs the moment
    the response starts (its results are the list), before the client has a byte."""
    seen: list[object] = []

    async def asgi(scope: Scope, receive: Callable[[], Awaitable[Message]], send: Send) -> None:
        async def watched(message: Message) -> None:
            if observe is not None and message["type"] == "http.response.start":
                seen.append(await observe())
            await send(message)

        await app(scope, receive, watched)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, seen


def make_app(db: Database, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan(db))
    install_error_handlers(app, **options)
    return app


# -- lifespan ----------------------------------------------------------------------


async def test_lifespan_connects_and_disconnects_the_database(migrated_database_url: str) -> None:
    db = Database(migrated_database_url)
    app = make_app(db)

    @app.get("/health")
    async def health(db: DatabaseDep) -> dict[str, bool]:
        return {"healthy": (await db.health_check()).healthy}

    assert db.pool is None
    async with serve(app) as (client, _):
        assert db.pool is not None
        response = await client.get("/health")
        assert response.json() == {"healthy": True}
    assert db.pool is None


async def test_an_app_without_the_lifespan_is_a_500_saying_nothing(
    migrated_database_url: str,
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/count")
    async def count(session: SessionDep) -> int:
        return await user_repo.count(session)

    async with serve(app) as (client, _):
        response = await client.get("/count")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}


# -- SessionDep --------------------------------------------------------------------


async def test_session_dep_commits_before_the_response_is_sent(migrated_database_url: str) -> None:
    app = make_app(Database(migrated_database_url))
    username = name()

    @app.post("/users", status_code=201)
    async def create(session: SessionDep) -> dict[str, str]:
        user = await users.create_user(session, UserCreate(username=username))
        return {"id": str(user.id)}

    async with serve(app, observe=lambda: user_exists(migrated_database_url, username)) as (
        client,
        seen,
    ):
        response = await client.post("/users")
    assert response.status_code == 201, response.text
    assert seen == [True]  # committed when the response started


@pytest.mark.rawrepo_backends("postgresql", "sqlite")  # MySQL has no deferred constraints
async def test_a_commit_that_fails_is_an_error_response_not_a_2xx(
    rawrepo_databases: Any,
) -> None:
    url = await rawrepo_databases.create()
    db = Database(url, sql_dir=CORE_SQL_DIR)
    async with db, db.session() as session:
        await session.execute("deferred.create_parents")
        await session.execute("deferred.create_children")
    app = make_app(db)

    @app.post("/children", status_code=201)
    async def create(session: SessionDep) -> dict[str, bool]:
        await session.execute("deferred.insert_child", id=1, parent_id=999)  # checked at COMMIT
        return {"created": True}

    async with serve(app) as (client, _):
        response = await client.post("/children")
        assert response.status_code == 409, response.text
        async with db.session() as session:
            assert await session.fetch_value("deferred.count_children") == 0


async def test_session_dep_rolls_back_when_the_endpoint_raises(migrated_database_url: str) -> None:
    app = make_app(Database(migrated_database_url))
    kept, gone, crashed = name(), name(), name()

    @app.post("/users/{username}/{then}")
    async def create(session: SessionDep, username: str, then: str) -> None:
        await users.create_user(session, UserCreate(username=username))
        if then == "missing":
            await users.get_user(session, uuid.uuid4())  # NotFoundError, after the insert
        if then == "crash":
            raise RuntimeError("boom")

    async with serve(app) as (client, _):
        assert (await client.post(f"/users/{kept}/ok")).status_code == 200
        assert (await client.post(f"/users/{gone}/missing")).status_code == 404
        assert (await client.post(f"/users/{crashed}/crash")).status_code == 500
    assert await user_exists(migrated_database_url, kept)
    assert not await user_exists(migrated_database_url, gone)
    assert not await user_exists(migrated_database_url, crashed)


# -- ReadSessionDep ----------------------------------------------------------------


async def test_read_session_dep_reads_and_refuses_every_write(migrated_database_url: str) -> None:
    db = Database(migrated_database_url)
    app = make_app(db)
    existing, refused = name(), name()
    async with db, db.session() as session:
        await users.create_user(session, UserCreate(username=existing))

    @app.get("/users/{username}")
    async def read(session: ReadSessionDep, username: str) -> dict[str, str]:
        user = await users.get_user_by_username(session, username)
        return {"username": user.username}

    @app.post("/users/{username}")
    async def write(session: ReadSessionDep, username: str) -> None:
        await users.create_user(session, UserCreate(username=username))

    async with serve(app) as (client, _):
        assert (await client.get(f"/users/{existing}")).json() == {"username": existing}
        response = await client.post(f"/users/{refused}")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert not await user_exists(migrated_database_url, refused)


async def test_read_session_dep_asks_for_a_read_only_session_where_the_database_has_one(
    migrated_database_url: str,
) -> None:
    class ReplicaDatabase(Database):
        """A Database whose create_session takes readonly= (as read replicas will)."""

        asked: ClassVar[list[bool]] = []

        def create_session(self, *, autocommit: bool = False, readonly: bool = False) -> Any:
            self.asked.append(readonly)
            return super().create_session(autocommit=autocommit)

    app = make_app(ReplicaDatabase(migrated_database_url))

    @app.get("/count")
    async def count(session: ReadSessionDep) -> int:
        return await user_repo.count(session)

    @app.post("/count")
    async def count_in_a_write(session: SessionDep) -> int:
        return await user_repo.count(session)

    async with serve(app) as (client, _):
        assert (await client.get("/count")).status_code == 200
        assert (await client.post("/count")).status_code == 200
    assert ReplicaDatabase.asked == [True, False]


# -- the error mapping -------------------------------------------------------------


async def errors_app(url: str, **options: Any) -> FastAPI:
    app = make_app(Database(url, sql_dir=CORE_SQL_DIR), **options)
    taken = name()

    @app.get("/fail/{kind}")
    async def fail(session: SessionDep, kind: str) -> None:
        if kind == "not-found":
            await users.get_user(session, uuid.UUID(int=1))
        elif kind == "conflict":
            await users.create_user(session, UserCreate(username=taken))
            await users.create_user(session, UserCreate(username=taken.upper()))
        elif kind == "integrity":
            row = {"id": uuid.uuid4(), "username": name(), "email": None}
            now = {"created_at": None, "updated_at": None}
            await session.execute("users.create", **row, **now)
        elif kind == "data":
            await session.fetch_one("users.get_by_id", id=object())  # no backend binds it
        elif kind == "filter":
            await user_repo.get_multi(session, filters={"password": "x"})
        elif kind == "parameter":
            await session.fetch_all("users.get_by_id")
        elif kind == "validation":
            UserCreate(username="no spaces allowed")
        elif kind == "value":
            await user_repo.get_multi(session, limit=0)
        elif kind == "sql":
            await session.fetch_all("items.bad_syntax")
        elif kind == "crash":
            raise RuntimeError("secret internal detail /srv/app/config.py")
        elif kind == "http":
            raise HTTPException(status_code=418, detail="I'm a teapot")
        elif kind == "outcome":  # what the session raises when COMMIT's answer is lost
            raise CommitOutcomeUnknownError(
                "the connection to db7.internal:5432 was lost after COMMIT was sent",
                host="db7.internal:5432",
            )

    @app.post("/users")
    async def create(session: SessionDep, data: UserCreate) -> None:
        await users.create_user(session, data)

    return app


# kind, status, text the body must hold, texts it must not hold
ERRORS: list[tuple[str, int, str, list[str]]] = [
    ("not-found", 404, "does not exist", []),
    ("conflict", 409, "already taken", []),
    ("integrity", 409, "conflict: a required value is missing", ["created_at", "users"]),
    ("data", 422, "invalid value: parameter :id", ["[query", ".sql", "users.get_by_id"]),
    ("filter", 422, "password", []),
    ("parameter", 422, "invalid parameter 'id'", [".sql", "users.get_by_id"]),
    ("validation", 422, "username", []),
    ("value", 422, "limit must be an integer", []),
    ("sql", 500, "internal server error", ["SELEC", "core_items", "syntax"]),
    ("crash", 500, "internal server error", ["secret", "config.py", "RuntimeError"]),
    ("http", 418, "I'm a teapot", []),
    ("outcome", 503, "retry it with the same Idempotency-Key", ["db7", "5432"]),
]


@pytest.mark.parametrize(("kind", "status", "says", "hides"), ERRORS, ids=[e[0] for e in ERRORS])
async def test_each_error_maps_to_its_status_without_internals(
    migrated_database_url: str, kind: str, status: int, says: str, hides: list[str]
) -> None:
    async with serve(await errors_app(migrated_database_url)) as (client, _):
        response = await client.get(f"/fail/{kind}")
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str)
    assert says in body["detail"]
    for text in hides:
        assert text not in response.text


async def test_invalid_request_bodies_are_422_naming_the_field(migrated_database_url: str) -> None:
    async with serve(await errors_app(migrated_database_url)) as (client, _):
        response = await client.post("/users", json={"username": "a b"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body.username: ")


async def test_pool_timeout_is_503_with_retry_after(migrated_database_url: str) -> None:
    db = Database(migrated_database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = make_app(db, retry_after=7)

    @app.get("/count")
    async def count(session: SessionDep) -> int:
        return await user_repo.count(session)

    async with serve(app) as (client, _):
        holder: Session
        async with db.session() as holder:  # the pool's only connection
            await user_repo.count(holder)
            response = await client.get("/count")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json() == {"detail": "the database is busy: retry later"}
        assert (await client.get("/count")).status_code == 200  # free again
