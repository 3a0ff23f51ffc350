"""rawrepo behind FastAPI: users and tasks over HTTP, wired with
:mod:`rawrepo.integrations.fastapi`.

Install the extra and apply the reference schema, then serve::

    pip install "rawrepo[fastapi]" uvicorn
    export DATABASE_URL=sqlite+aiosqlite:///data/app.db   # or your server's URL
    rawrepo migrate apply --bundled                       # the users and tasks tables
    uvicorn examples.fastapi_app:app

Each writing request runs in one session (``SessionDep``: one connection, one
transaction): it commits before the response is sent when the endpoint succeeds and
rolls back when it raises, so a failed request leaves the database as it was. Reading
requests take ``ReadSessionDep``, which refuses writes. Errors are JSON
``{"detail": "<message>"}`` (``install_error_handlers``): 404 for an unknown id, 409
for a conflict (taken username, a status move the rules forbid), 422 for invalid
input, 503 with Retry-After when the database is busy or unreachable, 500 without
internals for anything else.

``POST /tasks`` takes an ``Idempotency-Key`` header: a retry with the same key (say
after a 503 that says the commit's outcome is unknown) returns the task the first
attempt created, with 200 instead of 201, and creates no second one.
"""

import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from rawrepo import Database
from rawrepo.integrations.fastapi import (
    DatabaseDep,
    ReadSessionDep,
    SessionDep,
    install_error_handlers,
    lifespan,
)
from rawrepo.integrations.fastapi import get_database as get_db
from rawrepo.integrations.fastapi import get_session as get_session
from rawrepo.models import (
    IdempotencyKey,
    Task,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
    User,
    UserCreate,
    UserUpdate,
    UserWithTaskCount,
    UserWithTasks,
)
from rawrepo.repository import MAX_LIMIT
from rawrepo.services import TaskService, UserService

__all__ = ["HealthOut", "SessionDep", "app", "create_app", "get_db", "get_session"]

users = UserService()
tasks = TaskService()

Skip = Annotated[int, Query(ge=0, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows to return")]


# -- app ---------------------------------------------------------------------------


class HealthOut(BaseModel):
    """What ``GET /health`` reports (``Database.health_check()``)."""

    healthy: bool
    dialect: str
    server_version: str | None
    latency_ms: float | None
    size: int
    in_use: int
    error: str | None = None


def create_app(database_url: str | None = None) -> FastAPI:
    """A FastAPI app over ``database_url`` (default ``DATABASE_URL``, then SQLite at
    ``./data/app.db``). The lifespan connects and disconnects the Database; the
    schema must already be migrated (``rawrepo migrate apply --bundled``)."""
    db = Database(database_url)
    app = FastAPI(title="rawrepo example: users and tasks", lifespan=lifespan(db))
    install_error_handlers(app)
    app.state.db = db  # for tests and scripts; the dependencies find it themselves
    _add_routes(app)
    return app


def _add_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=HealthOut, tags=["health"])
    async def health(db: DatabaseDep) -> Any:
        """Ping the database; 503 when it does not answer."""
        report = dataclasses.asdict(await db.health_check())
        if not report["healthy"]:
            return JSONResponse(report, status_code=503)
        return report

    # -- users ---------------------------------------------------------------------

    @app.get("/users", tags=["users"])
    async def list_users(session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100) -> list[User]:
        """A page of users, oldest first."""
        return await users.list_users(session, skip=skip, limit=limit)

    @app.get("/users/task-counts", tags=["users"])
    async def list_users_with_task_counts(
        session: ReadSessionDep, skip: Skip = 0, limit: Limit = 100
    ) -> list[UserWithTaskCount]:
        """A page of users with the number of tasks each owns, most tasks first."""
        return await users.list_users_with_task_counts(session, skip=skip, limit=limit)

    @app.get("/users/by-username/{username}", tags=["users"])
    async def get_user_by_username(session: ReadSessionDep, username: str) -> User:
        """The user with this username, compared case-insensitively."""
        return await users.get_user_by_username(session, username)

    @app.post("/users", status_code=201, tags=["users"])
    async def create_user(session: SessionDep, data: UserCreate) -> User:
        """Create a user; 409 if the username is taken (in any case)."""
        return await users.create_user(session, data)

    @app.get("/users/{user_id}", tags=["users"])
    async def get_user(session: ReadSessionDep, user_id: uuid.UUID) -> User:
        """One user."""
        return await users.get_user(session, user_id)

    @app.get("/users/{user_id}/with-tasks", tags=["users"])
    async def get_user_with_tasks(session: ReadSessionDep, user_id: uuid.UUID) -> UserWithTasks:
        """One user with all their tasks, oldest first."""
        return await users.get_user_with_tasks(session, user_id)

    @app.patch("/users/{user_id}", tags=["users"])
    async def update_user(session: SessionDep, user_id: uuid.UUID, data: UserUpdate) -> User:
        """Change the fields given; ``"email": null`` clears the email."""
        return await users.update_user(session, user_id, data)

    @app.delete("/users/{user_id}", status_code=204, tags=["users"])
    async def delete_user(session: SessionDep, user_id: uuid.UUID) -> None:
        """Delete the user and their tasks."""
        await users.delete_user(session, user_id)

    @app.get("/users/{user_id}/tasks", tags=["users"])
    async def list_user_tasks(
        session: ReadSessionDep,
        user_id: uuid.UUID,
        status: TaskStatus | None = None,
        skip: Skip = 0,
        limit: Limit = 100,
    ) -> list[Task]:
        """A page of one user's tasks, oldest first; 404 for an unknown user."""
        await users.get_user(session, user_id)
        return await tasks.list_tasks(session, skip, limit, status=status, user_id=user_id)

    # -- tasks ---------------------------------------------------------------------

    @app.get("/tasks", tags=["tasks"])
    async def list_tasks(
        session: ReadSessionDep,
        status: TaskStatus | None = None,
        user_id: uuid.UUID | None = None,
        skip: Skip = 0,
        limit: Limit = 100,
    ) -> list[Task]:
        """A page of tasks, oldest first, optionally of one status and/or user."""
        return await tasks.list_tasks(session, skip, limit, status=status, user_id=user_id)

    @app.get("/tasks/search", tags=["tasks"])
    async def search_tasks(
        session: ReadSessionDep,
        q: Annotated[str, Query(min_length=1, max_length=200, description="part of a title")],
        skip: Skip = 0,
        limit: Limit = 100,
    ) -> list[Task]:
        """Tasks whose title contains ``q``, ignoring case."""
        return await tasks.tasks.search_by_title(session, q, skip=skip, limit=limit)

    @app.post("/tasks", status_code=201, tags=["tasks"])
    async def create_task(
        session: SessionDep,
        data: TaskCreate,
        response: Response,
        idempotency_key: Annotated[
            IdempotencyKey | None,
            Header(
                alias="Idempotency-Key",
                description="one key per task to create, sent again with each retry",
            ),
        ] = None,
    ) -> Task:
        """Create a task: 201; 404 if ``user_id`` names no user.

        With an ``Idempotency-Key`` header (or ``idempotency_key`` in the body; both
        given must be equal, else 422), a retry with the same key returns the task the
        first attempt created, with 200, and creates nothing; 409 if that task, still as
        created, differs from this request's (the key was used for another task). After
        a 503 that says the change may or may not have been applied, retry with the same
        key."""
        task, created = await tasks.create_or_get(session, data, idempotency_key=idempotency_key)
        if not created:
            response.status_code = 200
        return task

    @app.get("/tasks/{task_id}", tags=["tasks"])
    async def get_task(session: ReadSessionDep, task_id: uuid.UUID) -> Task:
        """One task."""
        return await tasks.get(session, task_id)

    @app.patch("/tasks/{task_id}", tags=["tasks"])
    async def update_task(session: SessionDep, task_id: uuid.UUID, data: TaskUpdate) -> Task:
        """Change the fields given; a status change follows the move rules (409 if not allowed)."""
        return await tasks.update(session, task_id, data)

    @app.delete("/tasks/{task_id}", status_code=204, tags=["tasks"])
    async def delete_task(session: SessionDep, task_id: uuid.UUID) -> None:
        """Delete the task."""
        await tasks.delete(session, task_id)

    @app.post("/tasks/{task_id}/start", tags=["tasks"])
    async def start_task(session: SessionDep, task_id: uuid.UUID) -> Task:
        """pending -> in_progress."""
        return await tasks.start(session, task_id)

    @app.post("/tasks/{task_id}/complete", tags=["tasks"])
    async def complete_task(session: SessionDep, task_id: uuid.UUID) -> Task:
        """pending or in_progress -> completed (sets ``completed_at``)."""
        return await tasks.mark_completed(session, task_id)

    @app.post("/tasks/{task_id}/cancel", tags=["tasks"])
    async def cancel_task(session: SessionDep, task_id: uuid.UUID) -> Task:
        """pending or in_progress -> cancelled."""
        return await tasks.cancel(session, task_id)

    @app.post("/tasks/{task_id}/reopen", tags=["tasks"])
    async def reopen_task(session: SessionDep, task_id: uuid.UUID) -> Task:
        """in_progress, completed or cancelled -> pending (clears ``completed_at``)."""
        return await tasks.reopen(session, task_id)


app = create_app()
