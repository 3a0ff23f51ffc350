"""rawrepo's exceptions: one hierarchy for every layer and every backend.

Nothing above the driver seam ever sees an ``asyncpg``, ``pymysql`` or
``sqlite3`` exception: drivers translate them with ``raise ... from exc``, and
the same violation raises the same class on PostgreSQL, MySQL and SQLite.

::

    RawRepoError
    ├── ConfigurationError                 bad DATABASE_* value or unsupported URL
    ├── QueryError
    │   ├── QueryLoadError                 a .sql file cannot be loaded (file:line)
    │   ├── QueryNotFoundError             no file for this query and dialect
    │   ├── QueryParameterError            missing or unexpected query parameter
    │   └── ReadOnlySessionError           a write in a read-only session (nothing sent)
    ├── DatabaseError                      anything the server or driver reported
    │   ├── ConnectionFailed               cannot connect, or the connection died
    │   │   └── ConnectionLost (also TransientError)  lost before COMMIT was sent, or no
    │   │                                  listed host took a connection: retry is safe
    │   ├── CommitOutcomeUnknownError      lost after COMMIT was sent: it may have committed
    │   ├── PoolTimeoutError               no free connection within pool_timeout
    │   ├── DataError                      value too long, out of range, malformed
    │   ├── IntegrityError                 a constraint rejected the change
    │   │   ├── UniqueViolation
    │   │   ├── ForeignKeyViolation
    │   │   ├── NotNullViolation
    │   │   └── CheckViolation
    │   ├── TransactionRolledBackError     the server rolled the transaction back;
    │   │                                  COMMIT did not (and will not) commit it
    │   └── TransientError                 retrying the transaction may succeed
    │       ├── SerializationFailure
    │       └── DeadlockDetected
    ├── SessionBusyError (also RuntimeError)  a call overlapped another on one session
    ├── MigrationError                     a migration failed or the lock is stale
    ├── NotFoundError                      (service layer) the entity does not exist
    │   ├── UserNotFoundError
    │   └── TaskNotFoundError
    ├── ConflictError                      (service layer) the change conflicts
    │   ├── UsernameTakenError
    │   └── InvalidStatusTransition
    └── InvalidFilterError (also ValueError)  a filter or sort key is not allowed

Every class can be raised with just a message; the keyword details are optional.
"""

from __future__ import annotations

__all__ = [
    "CheckViolation",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailed",
    "ConnectionLost",
    "DataError",
    "DatabaseError",
    "DeadlockDetected",
    "ForeignKeyViolation",
    "IntegrityError",
    "InvalidFilterError",
    "InvalidStatusTransition",
    "MigrationError",
    "NotFoundError",
    "NotNullViolation",
    "PoolTimeoutError",
    "QueryError",
    "QueryLoadError",
    "QueryNotFoundError",
    "QueryParameterError",
    "RawRepoError",
    "ReadOnlySessionError",
    "SerializationFailure",
    "SessionBusyError",
    "TaskNotFoundError",
    "TransactionRolledBackError",
    "TransientError",
    "UniqueViolation",
    "UserNotFoundError",
    "UsernameTakenError",
]


class RawRepoError(Exception):
    """Base class of every exception rawrepo raises."""

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class ConfigurationError(RawRepoError):
    """A setting (``DATABASE_URL``, ``DATABASE_POOL_*``, ...) has a bad value."""

    def __init__(
        self, message: str = "", *, variable: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.variable = variable


class QueryError(RawRepoError):
    """A query cannot be loaded or called."""

    def __init__(
        self,
        message: str = "",
        *,
        query: str | None = None,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.query = query
        self.path = path
        self.line = line


class QueryLoadError(QueryError):
    """A ``.sql`` file is malformed; the message starts with ``file:line``."""


class QueryNotFoundError(QueryError, KeyError):
    """No ``.sql`` file defines this query for the active dialect."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return RawRepoError.__str__(self)


class QueryParameterError(QueryError, TypeError):
    """A query was called with a missing or an unexpected parameter."""

    def __init__(
        self,
        message: str = "",
        *,
        query: str | None = None,
        path: str | None = None,
        parameter: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, query=query, path=path, hint=hint)
        self.parameter = parameter


class ReadOnlySessionError(QueryError):
    """A query that writes was called in a read-only session
    (``db.create_session(readonly=True)``). It was rejected before anything was sent
    to a server; ``query`` names it."""


class DatabaseError(RawRepoError):
    """The database or its driver reported an error.

    ``sqlstate`` (PostgreSQL SQLSTATE, MySQL error number or SQLite extended
    result code, as a string), ``query`` (the query's name) and ``position``
    (1-based character offset, where the server gives one) are set when known.
    """

    def __init__(
        self,
        message: str = "",
        *,
        sqlstate: str | None = None,
        query: str | None = None,
        position: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.sqlstate = sqlstate
        self.query = query
        self.position = position


class ConnectionFailed(DatabaseError):
    """The server cannot be reached, or the connection was lost mid-use. ``host``
    (``"host:port"``) names the server, where known."""

    def __init__(
        self,
        message: str = "",
        *,
        sqlstate: str | None = None,
        query: str | None = None,
        position: int | None = None,
        hint: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message, sqlstate=sqlstate, query=query, position=position, hint=hint)
        self.host = host


class PoolTimeoutError(DatabaseError, TimeoutError):
    """No pooled connection became free within ``pool_timeout`` seconds."""


class DataError(DatabaseError):
    """A value does not fit its column: too long, out of range or malformed."""


class IntegrityError(DatabaseError):
    """A constraint rejected the change. ``constraint``/``table`` where reported."""

    def __init__(
        self,
        message: str = "",
        *,
        constraint: str | None = None,
        table: str | None = None,
        column: str | None = None,
        sqlstate: str | None = None,
        query: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, sqlstate=sqlstate, query=query, hint=hint)
        self.constraint = constraint
        self.table = table
        self.column = column


class UniqueViolation(IntegrityError):
    """A unique index or primary key already holds this value."""


class ForeignKeyViolation(IntegrityError):
    """A referenced row does not exist, or a referencing row still does."""


class NotNullViolation(IntegrityError):
    """A required column was given NULL."""


class CheckViolation(IntegrityError):
    """A CHECK constraint rejected the value."""


class TransientError(DatabaseError):
    """The transaction failed for a reason that a retry may not meet again."""


class SerializationFailure(TransientError):
    """Concurrent transactions could not be serialized; retry the transaction."""


class DeadlockDetected(TransientError):
    """The server broke a deadlock by aborting this transaction; retry it."""


class ConnectionLost(ConnectionFailed, TransientError):
    """The connection died before COMMIT was sent (or the server answered that it is
    read-only, PostgreSQL SQLSTATE 25006: it is no longer the primary), or none of the
    URL's hosts took a new connection (refused, timed out, none writable). The server
    commits nothing of a transaction whose connection it lost, so running the unit of
    work again is safe: :meth:`~rawrepo.Database.run_in_transaction` does."""


class CommitOutcomeUnknownError(DatabaseError):
    """The connection was lost after COMMIT was sent and before its answer arrived (or,
    in an autocommit session, while a write was running): the transaction may or may
    not have committed, and nobody can say which until the data is read back.

    Never retried automatically: a retry could apply the write twice. Read back (on a
    new session) whether it committed, or retry an operation that is idempotent, e.g.
    ``TaskService.create(..., idempotency_key=...)`` (see ``docs/ha.md``). ``error`` is
    the connection failure (also the ``__cause__``); ``host`` the server it was on."""

    def __init__(
        self,
        message: str = "",
        *,
        error: DatabaseError | None = None,
        query: str | None = None,
        hint: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message, query=query, hint=hint)
        self.error = error
        self.host = host


class TransactionRolledBackError(DatabaseError):
    """The server rolled the session's transaction back, so none of its writes will be
    committed; raised when the session ends normally (where a COMMIT would silently
    have done nothing) and by any further call in the session.

    A failed statement aborts the whole transaction on PostgreSQL; a deadlock does on
    MySQL/MariaDB, and a full disk on SQLite. Catching that statement's error does not
    undo it: run a statement that may fail inside ``session.savepoint()`` to keep the
    rest of the transaction. ``error`` is the error that cost the transaction (also the
    ``__cause__``); :meth:`Database.run_in_transaction` retries when it is transient.
    """

    def __init__(
        self,
        message: str = "",
        *,
        error: DatabaseError | None = None,
        sqlstate: str | None = None,
        query: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, sqlstate=sqlstate, query=query, hint=hint)
        self.error = error


class SessionBusyError(RawRepoError, RuntimeError):
    """A call was made on a session while another call on it was still running (e.g.
    two queries of one session in ``asyncio.gather``). A session holds one connection,
    which runs one statement at a time: await each call in turn, or give each task its
    own session."""


class MigrationError(RawRepoError):
    """A migration failed, or the migration lock is held by a dead process."""


class NotFoundError(RawRepoError, LookupError):
    """The requested entity does not exist."""


class UserNotFoundError(NotFoundError):
    """No user has this id (or username)."""


class TaskNotFoundError(NotFoundError):
    """No task has this id."""


class ConflictError(RawRepoError):
    """The change conflicts with the current state of the data."""


class UsernameTakenError(ConflictError):
    """Another user already has this username (compared case-insensitively)."""


class InvalidStatusTransition(ConflictError):
    """A task cannot move from its current status to the requested one."""

    def __init__(
        self,
        message: str = "",
        *,
        current: str | None = None,
        target: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.current = current
        self.target = target


class InvalidFilterError(RawRepoError, ValueError):
    """A filter or sort key is not one the repository allows."""
