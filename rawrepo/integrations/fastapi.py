"""rawrepo behind FastAPI: a lifespan, session dependencies and one error mapping.

Needs ``fastapi>=0.121.1`` (``pip install "rawrepo[fastapi]"``)::

    from fastapi import FastAPI
    from rawrepo import Database
    from rawrepo.integrations.fastapi import (
        ReadSessionDep, SessionDep, install_error_handlers, lifespan,
    )

    db = Database()  # DATABASE_URL
    app = FastAPI(lifespan=lifespan(db))
    install_error_handlers(app)

    @app.post("/orders", status_code=201)
    async def create_order(session: SessionDep, order: OrderIn) -> Order:
        ...  # committed before the 201 is sent; rolled back if this raises

    @app.get("/orders/{order_id}")
    async def get_order(session: ReadSessionDep, order_id: UUID) -> Order:
        ...  # reads only: a write raises, nothing is ever committed

- :func:`lifespan` connects the Database when the app starts and disconnects it when
  the app stops, and makes it the app's database for the dependencies.
- :data:`SessionDep`: one session (one pooled connection, one transaction) per
  request. It ends *before* the response is sent (``Depends(..., scope="function")``):
  the transaction commits when the endpoint returns, so a failed commit (a deferred
  constraint, a lost connection) becomes an error response instead of a 2xx for
  work that was lost; it rolls back when the endpoint raises.
- :data:`ReadSessionDep`: a session for reads. Every write query (``execute``, a
  write file through ``fetch_*``) raises before it runs, and the session always ends
  with a rollback. It opens ``db.create_session(readonly=True)`` when the Database
  accepts that argument (read replicas), else a normal session.
- :data:`DatabaseDep`: the app's :class:`~rawrepo.Database` (e.g. for ``health_check``).
- :func:`install_error_handlers`: rawrepo's errors as HTTP responses,
  ``{"detail": "<message>"}``: not found 404; conflicts and constraint violations
  409; invalid input 422; pool timeout, unreachable database or a transient failure
  503 with ``Retry-After``; anything else 500 with no internals in the body
  (Starlette re-raises the exception after the response, so the server logs it).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from rawrepo.database import Database, Session
from rawrepo.errors import (
    CheckViolation,
    CommitOutcomeUnknownError,
    ConflictError,
    ConnectionFailed,
    DataError,
    ForeignKeyViolation,
    IntegrityError,
    InvalidFilterError,
    NotFoundError,
    NotNullViolation,
    PoolTimeoutError,
    QueryParameterError,
    RawRepoError,
    TransientError,
    UniqueViolation,
)
from rawrepo.queries import Query

__all__ = [
    "DatabaseDep",
    "ReadSessionDep",
    "SessionDep",
    "get_database",
    "get_read_session",
    "get_session",
    "install_error_handlers",
    "lifespan",
]

_STATE = "rawrepo_db"


def lifespan(db: Database) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """``FastAPI(lifespan=lifespan(db))``: connect ``db`` at start-up (queries loaded and
    checked, pool opened), disconnect it at shutdown, and make it the app's database
    for :data:`SessionDep`, :data:`ReadSessionDep` and :data:`DatabaseDep`. To combine
    it with a lifespan of your own, enter ``lifespan(db)(app)`` inside yours."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        setattr(app.state, _STATE, db)
        await db.connect()
        try:
            yield
        finally:
            await db.disconnect()

    return run


def get_database(request: Request) -> Database:
    """The app's Database, set by :func:`lifespan`."""
    db = getattr(request.app.state, _STATE, None)
    if not isinstance(db, Database):
        raise RawRepoError(
            "this app has no rawrepo Database: create it with FastAPI(lifespan=lifespan(db))"
        )
    return db


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: commit when the endpoint returns, roll back when it raises."""
    async with get_database(request).create_session() as session:
        yield session


class _Discard(Exception):
    """Ends a read session with a rollback."""


class _ReadOnlySession:
    """A Session that refuses every write query before it runs (see ReadSessionDep)."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def _read(self, query: Query | str) -> Query:
        q = self._session.query(query)
        if q.is_write:
            raise RawRepoError(
                f"query {q.name} ({q.path}) writes, and this is a read-only session"
                " (ReadSessionDep): take SessionDep for endpoints that write"
            )
        return q

    async def fetch_all(self, query: Query | str, /, **params: Any) -> Any:
        return await self._session.fetch_all(self._read(query), **params)

    async def fetch_one(self, query: Query | str, /, **params: Any) -> Any:
        return await self._session.fetch_one(self._read(query), **params)

    async def fetch_value(self, query: Query | str, /, **params: Any) -> Any:
        return await self._session.fetch_value(self._read(query), **params)

    async def execute(self, query: Query | str, /, **params: Any) -> int:
        return await self._session.execute(self._read(query), **params)

    async def execute_many(self, query: Query | str, rows: Any, /) -> int:
        return await self._session.execute_many(self._read(query), rows)

    def stream(self, query: Query | str, /, **params: Any) -> Any:
        return self._session.stream(self._read(query), **params)

    def stream_batches(self, query: Query | str, /, **params: Any) -> Any:
        return self._session.stream_batches(self._read(query), **params)


@functools.cache
def _accepts_readonly(create_session: Callable[..., Any]) -> bool:
    return "readonly" in inspect.signature(create_session).parameters


def _read_session(db: Database) -> AbstractAsyncContextManager[Session]:
    create: Callable[..., AbstractAsyncContextManager[Session]] = db.create_session
    if _accepts_readonly(type(db).create_session):
        return create(readonly=True)  # a Database that routes reads (to a replica)
    return create()


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session that only reads: write queries raise before they run, and it always
    ends with a rollback, so nothing is committed through it. It is
    ``db.create_session(readonly=True)`` where the Database has that argument."""
    try:
        async with _read_session(get_database(request)) as session:
            yield cast(Session, _ReadOnlySession(session))
            raise _Discard
    except _Discard:
        pass


# scope="function": the session ends (commits) before the response is sent, so a failed
# commit becomes an error response instead of a 2xx for lost work.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
"""One session per request, committed before the response is sent (see the module)."""
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
"""A session that only reads (see :func:`get_read_session`)."""
DatabaseDep = Annotated[Database, Depends(get_database)]
"""The app's Database."""


# -- errors ----------------------------------------------------------------------


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status_code, headers=headers)


def _describe(errors: Sequence[Any]) -> str:
    """Pydantic/FastAPI error entries as one line: ``body.username: String should ...``."""
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts) or "invalid input"


_INTEGRITY: tuple[tuple[type[IntegrityError], str], ...] = (
    (UniqueViolation, "a row with the same unique value already exists"),
    (
        ForeignKeyViolation,
        "the change refers to a row that does not exist, or removes one others refer to",
    ),
    (NotNullViolation, "a required value is missing"),
    (CheckViolation, "a value breaks a rule of the data"),
)
# Internals in a database or binding message: the query's name and file.
_INTERNALS = re.compile(r" of query [\w.]+| \([^()]*\.sql\)| \[query [^\]]*\]")


def install_error_handlers(app: FastAPI, *, retry_after: int = 1) -> None:
    """Map rawrepo's errors (and request validation) to JSON responses
    ``{"detail": "<message>"}`` on ``app``:

    - 404: :class:`~rawrepo.errors.NotFoundError` (its message);
    - 409: :class:`~rawrepo.errors.ConflictError` (its message) and
      :class:`~rawrepo.errors.IntegrityError` (what kind of constraint, not the
      database's text, which names columns and values);
    - 422: FastAPI's ``RequestValidationError`` and pydantic's ``ValidationError``
      (one line per field), :class:`~rawrepo.errors.DataError` (a value the database
      refused), :class:`~rawrepo.errors.InvalidFilterError`,
      :class:`~rawrepo.errors.QueryParameterError` (the parameter's name only), and
      ``ValueError`` (rawrepo's repositories raise it for bad paging and text);
    - 503 with ``Retry-After: <retry_after>``: :class:`~rawrepo.errors.PoolTimeoutError`,
      :class:`~rawrepo.errors.ConnectionFailed` and
      :class:`~rawrepo.errors.TransientError` (serialization failure, deadlock) and
      :class:`~rawrepo.errors.CommitOutcomeUnknownError` (retry with the same
      ``Idempotency-Key``);
    - 500 for anything else, ``{"detail": "internal server error"}``: the exception
      never reaches the body; Starlette re-raises it to the server, which logs it.

    Starlette picks the handler of the exception's most specific class, so an
    ``HTTPException`` the app raises keeps FastAPI's own handling."""
    retry = {"Retry-After": str(retry_after)}

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc))

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, str(exc))

    async def integrity(request: Request, exc: Exception) -> JSONResponse:
        kind = next((m for cls, m in _INTEGRITY if isinstance(exc, cls)), None)
        return _error(409, f"conflict: {kind or 'the change breaks a constraint of the data'}")

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError | ValidationError) else []
        return _error(422, _describe(errors))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        return _error(422, str(exc))

    async def bad_value(request: Request, exc: Exception) -> JSONResponse:
        message = exc.message if isinstance(exc, DataError) else str(exc)
        return _error(422, f"invalid value: {_INTERNALS.sub('', message)}")

    async def bad_parameter(request: Request, exc: Exception) -> JSONResponse:
        name = exc.parameter if isinstance(exc, QueryParameterError) else None
        return _error(422, f"invalid parameter {name!r}" if name else "invalid parameters")

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, PoolTimeoutError):
            return _error(503, "the database is busy: retry later", retry)
        if isinstance(exc, CommitOutcomeUnknownError):
            return _error(
                503,
                "the database connection was lost while the change was being committed, so"
                " it may or may not have been applied: retry it with the same Idempotency-Key",
                retry,
            )
        if isinstance(exc, TransientError) and not isinstance(exc, ConnectionFailed):
            return _error(503, "the change conflicted with another one: retry it", retry)
        return _error(503, "the database is unavailable: retry later", retry)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises the exception after this response, so the server logs it.
        return _error(500, "internal server error")

    handlers: dict[type[Exception], Callable[[Request, Exception], Any]] = {
        NotFoundError: not_found,
        ConflictError: conflict,
        IntegrityError: integrity,
        RequestValidationError: validation,
        ValidationError: validation,
        InvalidFilterError: invalid,
        ValueError: invalid,
        DataError: bad_value,
        QueryParameterError: bad_parameter,
        PoolTimeoutError: unavailable,
        ConnectionFailed: unavailable,
        TransientError: unavailable,
        CommitOutcomeUnknownError: unavailable,
        Exception: internal,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
