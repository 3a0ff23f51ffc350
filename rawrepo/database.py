"""``Database`` (owns the pool and the loaded queries) and ``Session`` (one
pooled connection inside one transaction)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import EllipsisType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from rawrepo.config import Dialect, Settings, mask_url, resolve_connect_timeout
from rawrepo.drivers.base import Connection, Driver, Row, load_driver
from rawrepo.errors import (
    CommitOutcomeUnknownError,
    ConnectionFailed,
    ConnectionLost,
    DatabaseError,
    RawRepoError,
    ReadOnlySessionError,
    SessionBusyError,
    TransactionRolledBackError,
    TransientError,
)
from rawrepo.instrumentation import Instrumentation, SessionTrace, sql_logger
from rawrepo.pool import Pool, PoolMetrics
from rawrepo.queries import BUNDLED_SQL_DIR, Query, QuerySet, load_queries
from rawrepo.replicas import ReadRoute, ReplicaHealth, ReplicaSet

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "Database",
    "HealthStatus",
    "Session",
    "get_async_db_connection",
    "require_queries",
]

T = TypeVar("T")
logger = logging.getLogger("rawrepo")

_REQUIRED: set[str] = set()


def require_queries(names: Iterable[str]) -> None:
    """Declare query names that every Database must find for its dialect at connect time.

    Repositories call this when their class is defined, so a missing file fails
    at start-up, naming the path where it was expected, not at the first call.
    """
    _REQUIRED.update(names)


@dataclass(frozen=True)
class HealthStatus:
    """What :meth:`Database.health_check` found. ``error`` never holds a password.

    ``size`` .. ``replaced`` are the pool's metrics as :class:`~rawrepo.PoolMetrics`
    defines them (read after the ping)."""

    healthy: bool
    dialect: Dialect
    server_version: str | None
    latency_ms: float | None
    size: int
    in_use: int
    error: str | None = None
    idle: int = 0
    waiting: int = 0
    max_size: int = 0
    acquisitions: int = 0
    timeouts: int = 0
    replaced: int = 0
    host: str | None = None
    """``host:port`` of the server that answered the ping (with several hosts in the
    URL: the one the pool's connections go to now; SQLite: the database file); None
    when none answered."""
    replicas: list[ReplicaHealth] = field(default_factory=list)
    """Each read replica's state (empty without replicas); ``healthy`` above is the
    primary's alone, since reads fall back to it when no replica can serve them."""

    @property
    def pool(self) -> PoolMetrics:
        """The pool's metrics of this reading as one :class:`~rawrepo.PoolMetrics`."""
        return PoolMetrics(**{f.name: getattr(self, f.name) for f in fields(PoolMetrics)})


class Session:
    """One pooled connection inside one transaction; see :meth:`Database.create_session`.

    Every method takes a loaded :class:`~rawrepo.queries.Query` or its name
    (``"users.get_by_username"``) and the query's parameters as keywords.

    The transaction starts with the session's first write (or savepoint): reads
    before it run on their own, as each would under READ COMMITTED anyway, so a
    read-only session costs one round trip per query and no BEGIN/COMMIT. A query
    file counts as a write unless it starts with SELECT (without FOR UPDATE/SHARE),
    WITH (without INSERT/UPDATE/DELETE), VALUES, SHOW or EXPLAIN.

    An *autocommit* session (``db.session(autocommit=True)``) starts no transaction
    for its writes: each call commits on its own (``execute_many`` too, as one
    transaction), and an exception later in the session does not undo earlier calls.
    It saves the BEGIN and COMMIT round trips where a unit of work is one statement.
    ``session.begin()`` or a savepoint still opens a transaction in it, committed at
    the session's end as usual.

    A session runs one call at a time: a call made while another is still running
    (two of its queries in ``asyncio.gather``) raises SessionBusyError at once.

    When a failed statement costs the whole transaction (any error on PostgreSQL, a
    deadlock on MySQL, a full disk on SQLite), every later call in the session and its
    normal end raise TransactionRolledBackError: nothing is committed, and nothing
    runs outside the transaction by accident. A savepoint keeps the transaction alive
    where the database allows it (PostgreSQL).
    """

    __slots__ = (
        "_active",
        "_autocommit",
        "_begun",
        "_busy",
        "_conn",
        "_db",
        "_failure",
        "_pool",
        "_queries",
        "_readonly",
        "_recoverable",
        "_reused",
        "_route",
        "_running",
        "_savepoints",
        "_streams",
        "_trace",
        "_write_token",
        "_wrote",
    )

    def __init__(
        self,
        db: Database,
        pool: Pool,
        conn: Connection,
        reused: bool,
        queries: QuerySet,
        autocommit: bool = False,
        readonly: bool = False,
        route: ReadRoute | None = None,
    ) -> None:
        self._db = db
        self._autocommit = autocommit
        self._readonly = readonly
        self._route = route  # where a read-only session reads, with replicas configured
        self._wrote = False
        self._write_token: str | None = None
        self._pool = pool
        self._conn = conn
        self._reused = reused  # from the idle list and not yet proven alive
        self._queries = queries
        self._active = True
        self._busy = False  # a driver call is in flight (stays set if it is interrupted)
        self._running = False  # a call of this session is under way
        self._begun = False
        self._savepoints = 0
        self._streams: list[AsyncGenerator[list[Row], None]] = []
        # the error that cost the transaction, and whether a savepoint can undo it
        self._failure: DatabaseError | None = None
        self._recoverable = False
        self._trace: SessionTrace | None = None  # set by a traced session context

    @property
    def dialect(self) -> Dialect:
        """``"postgresql"``, ``"mysql"`` or ``"sqlite"``."""
        return self._db.dialect

    @property
    def database(self) -> Database:
        return self._db

    @property
    def connection(self) -> Connection:
        """The driver connection (for fast paths and tests; bypasses the SQL files)."""
        return self._conn

    @property
    def in_transaction(self) -> bool:
        """Whether the session's transaction has started (after its first write)."""
        return self._begun

    @property
    def autocommit(self) -> bool:
        """Whether each write commits on its own (see the class docstring)."""
        return self._autocommit

    @property
    def readonly(self) -> bool:
        """Whether the session rejects writes (``db.create_session(readonly=True)``)."""
        return self._readonly

    @property
    def write_token(self) -> str | None:
        """After the session committed a write: its position in the primary's
        replication stream (PostgreSQL: a WAL LSN; MariaDB: a GTID), for
        ``db.create_session(readonly=True, after=token)``. Readable after the
        ``async with`` block. None if it wrote nothing, or when the Database has no
        replicas (nothing to wait for, so nothing is fetched)."""
        return self._write_token

    @property
    def replica(self) -> str | None:
        """The (password-masked) URL of the replica this session reads from now, or
        None on the primary."""
        route = self._route
        return None if route is None or route.current is None else str(route.current.url)

    def query(self, query: Query | str) -> Query:
        """The loaded query for a name (or the query itself)."""
        if isinstance(query, str):
            return self._queries[query]
        return query

    def _ensure_active(self) -> None:
        if not self._active:
            raise RawRepoError("this session has ended; open a new one with db.create_session()")

    async def _replace_connection(self) -> None:
        """The pooled connection turned out dead before the session used it: take
        another one (nothing of the session's transaction is lost, none began)."""
        await _abandon(self._pool, self._conn)
        self._pool.replaced += 1
        if self._route is not None:  # a read-only session: maybe another replica now
            self._pool, self._conn, self._reused = await self._route.replace(self._reused)
            return
        self._conn, self._reused = await self._pool.acquire()

    def _claim(self, what: str) -> None:
        """Mark a call under way; SessionBusyError if another one is."""
        if self._running:
            raise SessionBusyError(
                f"{what}: another call on this session is still running; a session runs"
                " one statement at a time (await each call, or use one session per task)"
            )
        self._running = True

    def _check_alive(self, what: str) -> None:
        self._ensure_active()
        if self._failure is not None:
            raise self._rolled_back(what)

    def _rolled_back(self, what: str) -> TransactionRolledBackError:
        failure = self._failure
        error = TransactionRolledBackError(
            f"{what}: this session's transaction was rolled back after an earlier error"
            f" ({failure.message if failure else 'unknown'}); nothing of it is committed",
            error=failure,
            query=failure.query if failure else None,
            hint="run a statement that may fail inside session.savepoint(), or retry"
            " the whole unit of work (Database.run_in_transaction)",
        )
        error.__cause__ = failure
        return error

    async def begin(self) -> None:
        """Start the transaction now (it otherwise starts with the first write)."""
        self._claim("begin()")
        try:
            self._check_alive("begin()")
            await self._begin()
        finally:
            self._running = False

    async def _begin(self) -> None:
        if self._begun:
            return
        while True:
            try:
                await self._conn.begin()
            except ConnectionFailed:
                if not self._reused:
                    raise
                await self._replace_connection()
                continue
            self._begun = True
            self._reused = False
            if self._trace is not None:
                self._trace.begin()
            return

    async def _failed(self, exc: DatabaseError) -> None:
        """A statement failed: note whether it cost the open transaction."""
        if not self._begun or isinstance(exc, ConnectionFailed) or self._failure is not None:
            return
        loss = await self._conn.transaction_lost(exc)
        if loss is not None:
            self._failure = exc
            self._recoverable = loss == "aborted"

    async def _run(self, op: str, q: Query, args: Any) -> Any:
        if self._running:
            self._claim(q.name)
        self._running = True
        try:
            return await self._call(op, q, args)
        finally:
            self._running = False

    async def _call(self, op: str, q: Query, args: Any) -> Any:
        if not self._active or self._failure is not None:
            self._check_alive(q.name)
        if self._streams:
            await self._close_streams()  # another query ends an unfinished stream
        if q.is_write:
            if self._readonly:
                raise ReadOnlySessionError(
                    f"query {q.name} writes, and this session is read-only"
                    " (db.create_session(readonly=True)); nothing was sent",
                    query=q.name,
                    path=str(q.path),
                    hint="run writes in db.create_session()",
                )
            self._wrote = True
            if not self._begun:
                if not self._autocommit:
                    await self._begin()
                elif op == "execute_many":
                    return await self._one_transaction(op, q, args)
        hook = self._db._hook  # None unless echo, the slow-query log or tracing is on
        if hook is not None:
            return await hook.run(self, op, q, args, self._send)
        return await self._send(op, q, args)

    async def _send(self, op: str, q: Query, args: Any) -> Any:
        while True:
            # _busy stays True only if the call is interrupted (cancelled) mid-statement.
            self._busy = True
            try:
                result = await getattr(self._conn, op)(q, args)
            except ConnectionFailed as exc:
                self._busy = False
                await _note_lost(self._db, self._pool, self._conn, exc)
                if not self._begun and q.is_write:
                    # An autocommit write: the server may have run and committed it
                    # before the connection died. Sending it again could apply it twice.
                    raise _outcome_unknown(
                        exc, self._conn, f"query {q.name} (an autocommit write)"
                    ) from exc
                if not self._begun and (
                    self._reused or (self._route is not None and self._route.on_replica)
                ):
                    # A read on a dead idle connection, or on a replica that failed before
                    # it returned anything: run it again on another connection.
                    await self._replace_connection()
                    continue
                raise
            except DatabaseError as exc:
                self._busy = False
                await self._failed(exc)
                raise
            except Exception:
                self._busy = False
                raise
            break
        self._busy = False
        self._reused = False
        return result

    async def _one_transaction(self, op: str, q: Query, args: Any) -> Any:
        """In an autocommit session: run one call as its own transaction."""
        await self._begin()
        try:
            result = await self._call(op, q, args)
        except BaseException as exc:
            if not self._busy:  # else the connection is mid-statement; the session aborts it
                await self._conn.rollback()
                self._begun = False
                self._failure = None
                if self._trace is not None:
                    self._trace.end_transaction("rollback", exc)
            raise
        await _commit(self._db, self._pool, self._conn)
        self._begun = False
        if self._trace is not None:
            self._trace.end_transaction("commit")
        return result

    async def fetch_all(self, query: Query | str, /, **params: Any) -> list[Row]:
        """All rows, as dicts keyed by column name."""
        q = self._queries[query] if isinstance(query, str) else query
        rows: list[Row] = await self._run("fetch_all", q, q.bind(params))
        return rows

    async def fetch_one(self, query: Query | str, /, **params: Any) -> Row | None:
        """The first row as a dict, or None."""
        q = self._queries[query] if isinstance(query, str) else query
        row: Row | None = await self._run("fetch_one", q, q.bind(params))
        return row

    async def fetch_value(self, query: Query | str, /, **params: Any) -> Any:
        """The first column of the first row, or None when there is no row."""
        q = self._queries[query] if isinstance(query, str) else query
        return await self._run("fetch_value", q, q.bind(params))

    async def execute(self, query: Query | str, /, **params: Any) -> int:
        """Run a statement; return the rows it affected (matched rows for UPDATE)."""
        q = self._queries[query] if isinstance(query, str) else query
        count: int = await self._run("execute", q, q.bind(params))
        return count

    async def execute_many(self, query: Query | str, rows: Sequence[Mapping[str, Any]], /) -> int:
        """Run a statement once per parameter mapping, batched by the driver."""
        q = self._queries[query] if isinstance(query, str) else query
        count: int = await self._run("execute_many", q, [q.bind(r) for r in rows])
        return count

    async def stream_batches(
        self, query: Query | str, /, *, batch_size: int = 1000, **params: Any
    ) -> AsyncGenerator[list[Row], None]:
        """The query's rows in lists of at most ``batch_size``, read from the server as
        you consume them (a server-side cursor on PostgreSQL and MySQL), so memory
        stays bounded however many rows there are. The session's transaction starts
        first (PostgreSQL cursors need one), and the stream reads one snapshot on
        PostgreSQL and SQLite. Run no other query in the session until the stream is
        exhausted: another query, or leaving the session, closes an unfinished one."""
        q = self._queries[query] if isinstance(query, str) else query
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        args = q.bind(params)
        await self.begin()
        stream = self._conn.stream(q, args, batch_size)
        self._streams.append(stream)
        hook = self._db._hook
        span = hook.stream_span(self, q) if hook is not None else None
        rows, error = 0, None
        try:
            while True:
                self._claim(q.name)
                self._busy = True
                try:
                    batch = await anext(stream)
                except StopAsyncIteration:
                    self._busy = False
                    return
                except DatabaseError as exc:
                    self._busy = False
                    await self._failed(exc)
                    raise
                except Exception:
                    self._busy = False
                    raise
                finally:
                    self._running = False
                self._busy = False
                rows += len(batch)
                yield batch
        except BaseException as exc:
            error = exc
            raise
        finally:
            if stream in self._streams:  # else another call has closed it, or is closing it
                self._streams.remove(stream)
                await stream.aclose()
            if span is not None:
                hook.end_stream(span, rows, error)  # type: ignore[union-attr]

    async def stream(
        self, query: Query | str, /, *, batch_size: int = 1000, **params: Any
    ) -> AsyncIterator[Row]:
        """The query's rows one by one, fetched ``batch_size`` at a time with bounded
        memory; see :meth:`stream_batches`."""
        async for batch in self.stream_batches(query, batch_size=batch_size, **params):
            for row in batch:
                yield row

    async def _close_streams(self) -> None:
        while self._streams:
            await self._streams.pop().aclose()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Session]:
        """A nested scope: an exception inside rolls back only the scope's changes
        (and propagates); a normal exit keeps them in the enclosing transaction.

        Where the server has rolled back the whole transaction meanwhile (a deadlock on
        MySQL), the scope's exception propagates as it is, never a savepoint error in
        its place, so a transient error still reaches ``run_in_transaction``."""
        self._claim("savepoint()")
        try:
            self._check_alive("savepoint()")
            await self._begin()
            self._savepoints += 1
            name = f"rawrepo_sp_{self._savepoints}"
            await self._conn.savepoint(name)
        finally:
            self._running = False
        try:
            yield self
        except BaseException:
            if self._busy:
                raise  # the connection is mid-statement; the session aborts it
            await self._undo_savepoint(name)
            raise
        self._claim("leaving savepoint()")
        try:
            self._check_alive("leaving savepoint()")
            await self._conn.release_savepoint(name)
        finally:
            self._running = False

    async def _undo_savepoint(self, name: str) -> None:
        """Roll back to ``name`` after an exception in its scope, unless the server has
        already rolled back the whole transaction; never raises a database error (the
        scope's exception is the one to see)."""
        if self._failure is not None and not self._recoverable:
            return  # the transaction is gone, and its savepoints with it
        try:
            await self._conn.rollback_to_savepoint(name)
            await self._conn.release_savepoint(name)
        except DatabaseError as exc:
            if self._failure is None:
                self._failure = exc
            self._recoverable = False
            return
        self._failure = None  # PostgreSQL: the aborted transaction lives on


class _SessionContext:
    """``async with db.create_session() as session``: commit, or roll back on error."""

    __slots__ = ("_after", "_autocommit", "_db", "_readonly", "_session")

    def __init__(
        self,
        db: Database,
        autocommit: bool = False,
        readonly: bool = False,
        after: str | None = None,
    ) -> None:
        self._db = db
        self._autocommit = autocommit
        self._readonly = readonly
        self._after = after
        self._session: Session | None = None

    async def __aenter__(self) -> Session:
        db = self._db
        queries = db._queries if db._pool is not None and db._queries is not None else None
        if queries is None:
            queries = await db._ready()
        pool = db._require_pool()
        if self._readonly and db._replicas is not None:
            route = ReadRoute(db._replicas, pool, self._after)
            pool, conn, reused = await route.open()
            self._session = Session(db, pool, conn, reused, queries, self._autocommit, True, route)
            return self._session
        conn, reused = await pool.acquire()
        self._session = Session(db, pool, conn, reused, queries, self._autocommit, self._readonly)
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        if session is None:  # pragma: no cover - __aenter__ failed
            return
        session._active = False
        pool, conn = session._pool, session._conn
        if session._streams and not session._busy:
            try:
                await session._close_streams()
            except BaseException:
                await _abandon(pool, conn)
                raise
        replicas = self._db._replicas
        if exc_type is None:
            if session._begun:
                if session._failure is not None:
                    await _end_lost(session, pool, conn)
                try:
                    await _commit(self._db, pool, conn)
                except TransactionRolledBackError:
                    await pool.release(conn)  # the transaction ended; the connection is fine
                    raise
                except BaseException:
                    await _abandon(pool, conn)
                    raise
            if session._wrote and replicas is not None:
                await self._note_commit(session, replicas)
                return
            await pool.release(conn)
            return
        try:
            if session._busy or isinstance(exc, asyncio.CancelledError | ConnectionFailed):
                # Interrupted mid-statement or lost: the connection's state is unknown.
                await _abandon(pool, conn, interrupted=session._busy)
                return
            if session._begun:
                try:
                    await conn.rollback()
                except BaseException:
                    await _abandon(pool, conn)
                    return
            await pool.release(conn)
        finally:
            if session._autocommit and session._wrote and replicas is not None:
                # An autocommit session's writes stay committed when a later call fails.
                await replicas.record_from_pool(session, self._db._require_pool())

    async def _note_commit(self, session: Session, replicas: ReplicaSet) -> None:
        """After a committed write: its position as the session's token (for
        read-your-writes on the replicas), then the connection back to the pool."""
        pool, conn = session._pool, session._conn
        try:
            recorded = await replicas.record_commit(session, conn)
        except BaseException:
            await _abandon(pool, conn)
            raise
        if recorded:
            await pool.release(conn)
            return
        await _abandon(pool, conn)  # it could not say: another connection will
        await replicas.record_from_pool(session, self._db._require_pool())


async def _commit(db: Database, pool: Pool, conn: Connection) -> None:
    """COMMIT. A connection known dead before COMMIT is sent raises ConnectionLost (the
    server rolled the transaction back: a retry is safe); one lost after it was sent
    raises CommitOutcomeUnknownError (it may have committed)."""
    if conn.is_closed():
        error = ConnectionLost(
            f"the connection to {conn.host} was lost before COMMIT was sent; the server"
            " rolled the transaction back, so nothing of it is committed",
            host=conn.host,
        )
        await _note_lost(db, pool, conn, error)
        raise error
    try:
        await conn.commit()
    except ConnectionFailed as exc:
        await _note_lost(db, pool, conn, exc)
        raise _outcome_unknown(exc, conn, "COMMIT") from exc


def _outcome_unknown(
    exc: ConnectionFailed, conn: Connection, what: str
) -> CommitOutcomeUnknownError:
    return CommitOutcomeUnknownError(
        f"the connection to {exc.host or conn.host} was lost after {what} was sent and"
        f" before its answer: the change may or may not have been committed"
        f" ({exc.message})",
        error=exc,
        query=exc.query,
        host=exc.host or conn.host,
        hint="read back whether it was applied before doing it again, or retry an"
        " idempotent operation (e.g. TaskService.create with the same idempotency_key)",
    )


async def _note_lost(db: Database, pool: Pool, conn: Connection, exc: ConnectionFailed) -> None:
    """A connection failed: name its host in the error, and after a failover (several
    hosts listed, or a server that stopped taking writes) drop the pool's other
    connections to that host."""
    if exc.host is None:
        exc.host = conn.host
    if isinstance(exc, ConnectionLost) and (len(db.url.hosts) > 1 or exc.sqlstate in _NOT_WRITABLE):
        await pool.host_lost(conn.host)


# the server answered but takes no writes: PostgreSQL read_only_sql_transaction, MySQL
# --read-only (ER_OPTION_PREVENTS_STATEMENT), Galera's node not ready (ER_UNKNOWN_COM_ERROR)
_NOT_WRITABLE = frozenset({"25006", "1290", "1047"})


async def _end_lost(session: Session, pool: Pool, conn: Connection) -> None:
    """A session whose transaction the server rolled back ends normally: roll back what
    is left of it and raise TransactionRolledBackError (a COMMIT would report success)."""
    try:
        await conn.rollback()
    except BaseException:
        await _abandon(pool, conn)
    else:
        await pool.release(conn)
    raise session._rolled_back("leaving the session")


class _TracedSessionContext(_SessionContext):
    """A session context that also records the session's and its transaction's spans."""

    __slots__ = ()

    async def __aenter__(self) -> Session:
        hook = self._db._hook
        if hook is None:  # pragma: no cover - only made for a Database that traces
            return await super().__aenter__()
        trace = hook.session_trace()
        try:
            session = await super().__aenter__()
            session._trace = trace
            if not hook.identified:
                await hook.identify(session)
        except BaseException as exc:
            if trace is not None:
                trace.end(exc)
            raise
        return session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        trace = self._session._trace if self._session is not None else None
        try:
            await super().__aexit__(exc_type, exc, tb)
        except BaseException as error:
            if trace is not None:
                trace.end(error)
            raise
        if trace is not None:
            trace.end(exc)


async def _abandon(pool: Pool, conn: Connection, *, interrupted: bool = False) -> None:
    """Take a connection out of service (its transaction dies with it). After an
    interruption a driver may recover the connection instead (SQLite does)."""
    recovered = False
    try:
        if interrupted:
            recovered = await conn.abort()
        else:
            await conn.close()
    finally:
        if recovered:
            await pool.release(conn)
        else:
            await pool.forget(conn)


class Database:
    """A database: its settings, its connection pool and its loaded queries.

    ``url`` and the keyword settings default to ``DATABASE_URL``,
    ``DATABASE_POOL_SIZE``, ``DATABASE_MAX_OVERFLOW``, ``DATABASE_POOL_TIMEOUT``,
    ``DATABASE_POOL_RECYCLE``, ``SQL_ECHO``, ``SQL_TAGS``, ``SQL_SLOW_MS`` and
    ``SQL_TRACING``; a bad value raises ConfigurationError here. ``sql_dir`` adds
    folders of your own queries to the bundled ones (later folders win for the
    same query name).

    ``connect_timeout``: seconds one connect to one host may take (default: the URL's
    ``connect_timeout`` option, else 10); with several hosts in the URL each host gets
    it in turn (see docs/ha.md).

    ``query_tags`` (default on) starts every statement with ``/* rawrepo:<query> */``;
    ``slow_ms`` logs a WARNING on ``rawrepo.sql`` for each statement at least that
    slow; ``tracing`` records OpenTelemetry spans (default: on when opentelemetry-api
    is installed), to ``tracer_provider`` if given, else to OpenTelemetry's global
    provider. See :mod:`rawrepo.instrumentation`.

    Read replicas: ``replica_urls`` (``DATABASE_REPLICA_URLS``, comma-separated), each
    with its own pool of the same size, serve ``create_session(readonly=True)``;
    ``replica_max_lag`` (``DATABASE_REPLICA_MAX_LAG``, seconds, default no limit),
    ``replica_wait`` (``DATABASE_REPLICA_WAIT``, seconds a read may wait for a replica
    to catch up with its token, default 1) and ``replica_cooldown``
    (``DATABASE_REPLICA_COOLDOWN``, seconds a failing replica is skipped, default 5).
    See :mod:`rawrepo.replicas`.

    Use ``async with Database(...) as db:`` or ``await db.connect()`` /
    ``await db.disconnect()``; a session connects lazily if needed.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float | None = None,
        pool_recycle: float | None = None,
        echo: bool | None = None,
        sql_dir: str | Path | Sequence[str | Path] | None = None,
        connect_timeout: float | None = None,
        query_tags: bool | None = None,
        slow_ms: float | None = None,
        tracing: bool | None = None,
        tracer_provider: TracerProvider | None = None,
        replica_urls: Sequence[str] | None = None,
        replica_max_lag: float | None = None,
        replica_wait: float | None = None,
        replica_cooldown: float | None = None,
    ) -> None:
        self.settings = Settings.resolve(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            echo=echo,
            query_tags=query_tags,
            slow_ms=slow_ms,
            tracing=tracing,
            replica_urls=replica_urls,
            replica_max_lag=replica_max_lag,
            replica_wait=replica_wait,
            replica_cooldown=replica_cooldown,
        )
        self.url = self.settings.url
        self.dialect: Dialect = self.url.dialect
        self._hook: Instrumentation | None = None
        self._tracer_provider = tracer_provider
        self._session_context: type[_SessionContext] = _SessionContext
        self.echo = self.settings.echo
        if sql_dir is None:
            extra: list[Path] = []
        elif isinstance(sql_dir, str | Path):
            extra = [Path(sql_dir)]
        else:
            extra = [Path(d) for d in sql_dir]
        self.sql_dirs: tuple[Path, ...] = (BUNDLED_SQL_DIR, *extra)
        self.connect_timeout = resolve_connect_timeout(connect_timeout, self.url)
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            options["busy_timeout"] = self.settings.pool_timeout
        self._driver: Driver = load_driver(self.url, **options)
        self._pool: Pool | None = None
        self._queries: QuerySet | None = None
        self._lock: asyncio.Lock | None = None
        self._replicas: ReplicaSet | None = (
            ReplicaSet(self.settings, self.connect_timeout) if self.settings.replica_urls else None
        )

    def __repr__(self) -> str:
        return f"Database({str(self.url)!r}, dialect={self.dialect!r})"

    @property
    def echo(self) -> bool:
        """Whether each statement is logged to ``rawrepo.sql`` (settable)."""
        return self._echo

    @echo.setter
    def echo(self, value: bool) -> None:
        self._echo = bool(value)
        self._hook = Instrumentation.build(self.settings, self._echo, self._tracer_provider)
        traced = self._hook is not None and self._hook.tracer is not None
        self._session_context = _TracedSessionContext if traced else _SessionContext
        if self._echo:
            _enable_echo()

    @property
    def query_tags(self) -> bool:
        """Whether statements start with ``/* rawrepo:<query name> */`` (``SQL_TAGS``)."""
        return self.settings.query_tags

    @property
    def slow_ms(self) -> float | None:
        """The slow-query log's threshold in milliseconds (``SQL_SLOW_MS``), or None."""
        return self.settings.slow_ms

    @property
    def tracing(self) -> bool:
        """Whether sessions and statements are recorded as OpenTelemetry spans."""
        return self._session_context is _TracedSessionContext

    def pool_metrics(self) -> PoolMetrics:
        """The pool's gauges and counters now, for a metrics exporter to poll (no I/O).
        Before the pool exists (or after ``disconnect()``) everything is zero."""
        if self._pool is None:
            size = 1 if self.url.is_memory else self.pool_size + self.max_overflow
            return PoolMetrics(0, size, 0, 0, 0, 0, 0, 0)
        return self._pool.metrics()

    @property
    def pool_size(self) -> int:
        return self.settings.pool_size

    @property
    def max_overflow(self) -> int:
        return self.settings.max_overflow

    @property
    def pool_timeout(self) -> float:
        return self.settings.pool_timeout

    @property
    def pool_recycle(self) -> float:
        return self.settings.pool_recycle

    @property
    def driver(self) -> Driver:
        return self._driver

    @property
    def pool(self) -> Pool | None:
        """The live pool, or None before connect / after disconnect."""
        return self._pool

    @property
    def replicas(self) -> ReplicaSet | None:
        """The read replicas and their pools, or None without ``replica_urls``."""
        return self._replicas

    @property
    def write_token(self) -> str | None:
        """The latest :attr:`Session.write_token` committed through this Database: the
        default ``after`` of read-only sessions, so a process reads its own writes.
        Always None without replicas."""
        return None if self._replicas is None else self._replicas.write_token

    @property
    def queries(self) -> QuerySet:
        """The loaded queries of this database's dialect (loaded on first use)."""
        if self._queries is None:
            self._queries = self._load_queries()
        return self._queries

    def _load_queries(self) -> QuerySet:
        queries = load_queries(self.sql_dirs, self.dialect, tags=self.settings.query_tags)
        queries.require(sorted(_REQUIRED))
        return queries

    async def connect(self) -> None:
        """Load and check the queries, then open the pool (connections open on demand)."""
        await self._ready()

    async def _ready(self) -> QuerySet:
        if self._pool is not None and self._queries is not None:
            return self._queries
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._queries is None:
                self._queries = self._load_queries()
            self._ensure_pool()
        return self._queries

    def _ensure_pool(self) -> Pool:
        if self._pool is None:
            size, overflow = self.settings.pool_size, self.settings.max_overflow
            if self.url.is_memory:
                # One in-memory database lives in one connection: sessions take turns.
                size, overflow = 1, 0
            recycle = float("inf") if self.url.is_memory else self.settings.pool_recycle
            self._pool = Pool(
                self._driver,
                size=size,
                max_overflow=overflow,
                timeout=self.settings.pool_timeout,
                recycle=recycle,
                connect_timeout=self.connect_timeout,
            )
        if self._replicas is not None:
            self._replicas.open()
        return self._pool

    def _require_pool(self) -> Pool:
        if self._pool is None:  # pragma: no cover - sessions call _ready() first
            raise RawRepoError("the database is not connected")
        return self._pool

    async def disconnect(self) -> None:
        """Close the pool's idle connections; connections in use close when released.
        An in-memory SQLite database is gone after this."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        if self._replicas is not None:
            await self._replicas.close()

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def create_session(
        self,
        *,
        autocommit: bool = False,
        readonly: bool = False,
        after: str | EllipsisType | None = ...,
    ) -> _SessionContext:
        """``async with db.create_session() as session:`` one pooled connection in one
        transaction: commit on normal exit, rollback on any exception (which
        propagates); the connection always goes back to the pool.

        ``autocommit=True``: each write commits on its own instead (see
        :class:`Session`), saving BEGIN and COMMIT for one-statement units of work.

        ``readonly=True``: a session for reads, on a read replica when there are any
        (round-robin over the healthy ones), else on the primary; a query that writes
        raises ReadOnlySessionError before anything is sent. It uses a replica only
        once that replica has applied ``after`` (a :attr:`Session.write_token`;
        default: :attr:`write_token`, this Database's latest committed write; None:
        no wait), waiting up to ``replica_wait`` seconds, else it reads from the
        primary. A malformed ``after`` raises ValueError here."""
        if after is ...:
            token = self.write_token if readonly else None
        elif after is not None and not readonly:
            raise ValueError(
                "after= is for read-only sessions: create_session(readonly=True, after=...)"
            )
        else:
            token = None if after is None else self._normalize_token(after)
        return self._session_context(self, autocommit, readonly, token)

    def _normalize_token(self, token: object) -> str:
        if not isinstance(token, str):
            raise ValueError(f"after= must be a write token (str) or None, got {token!r}")
        if self._replicas is not None:
            return self._replicas.normalize(token)
        if self.dialect == "sqlite":
            raise ValueError(f"SQLite has no replicas and no write tokens: after={token!r}")
        # No replicas: the primary has every write, but a bad token is still an error.
        from rawrepo.drivers.replication import replication_for

        return replication_for(self.dialect).normalize(token)

    session = create_session

    async def run_in_transaction(
        self,
        fn: Callable[[Session], Awaitable[T]],
        *,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
    ) -> T:
        """Run ``fn(session)`` in a new session; rerun it when the failure means nothing
        was committed and a retry may succeed: any TransientError, i.e.
        SerializationFailure, DeadlockDetected (a Galera certification conflict too) and
        ConnectionLost (the connection died before COMMIT was sent, the server became
        read-only, or no host took a connection, as during a failover), also when
        ``fn`` caught it and the session ended with TransactionRolledBackError.

        Up to ``retries`` more runs, waiting ``min(backoff * 2**n, max_backoff)``
        seconds, jittered by ±50 %, before rerun ``n + 1``; the last error is raised when they
        run out. To ride out a primary failover, allow its length: e.g. ``retries=30,
        max_backoff=1.0`` waits about 25 s in all (see docs/ha.md).

        CommitOutcomeUnknownError (the connection was lost after COMMIT was sent) is
        never retried: ``fn`` may have committed, and running it again could apply its
        writes twice."""
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError(
                "run_in_transaction: retries, backoff and max_backoff must be >= 0, got"
                f" retries={retries!r}, backoff={backoff!r}, max_backoff={max_backoff!r}"
            )
        attempt = 0
        while True:
            try:
                async with self.create_session() as session:
                    return await fn(session)
            except (TransientError, TransactionRolledBackError) as exc:
                if attempt >= retries or not _retryable(exc):
                    raise
                delay = min(backoff * 2 ** min(attempt, 60), max_backoff) * (0.5 + random.random())
                attempt += 1
                logger.info(
                    "transaction failed transiently (%s); retry %d in %.3fs",
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)

    async def health_check(self, timeout: float = 3.0) -> HealthStatus:
        """Ping the server through the pool. Never raises for an unreachable server and
        returns within about ``timeout`` seconds."""
        start = time.perf_counter()
        version: str | None = None
        error: str | None = None
        host: str | None = None
        pool = self._ensure_pool()
        replicas = (
            None
            if self._replicas is None
            else asyncio.ensure_future(self._replicas.health(timeout, pool))
        )
        try:
            async with asyncio.timeout(timeout):
                while True:
                    conn, reused = await pool.acquire(timeout=min(pool.timeout, timeout))
                    try:
                        await conn.ping()
                        version = await conn.server_version()
                        host = conn.host
                    except ConnectionFailed as exc:
                        await _note_lost(self, pool, conn, exc)
                        await _abandon(pool, conn)
                        if reused:  # an idle connection that died (a failover): a new one
                            pool.replaced += 1
                            continue
                        raise
                    except BaseException:
                        await _abandon(pool, conn)
                        raise
                    break
                await pool.release(conn)
        except TimeoutError:
            error = f"no answer within {timeout:g}s"
        except Exception as exc:
            error = mask_url(str(exc)) or type(exc).__name__
            if self.url.password:
                error = error.replace(self.url.password, "***")
        latency = (time.perf_counter() - start) * 1000
        return HealthStatus(
            healthy=error is None,
            dialect=self.dialect,
            server_version=version,
            latency_ms=round(latency, 3) if error is None else None,
            error=error,
            host=host,
            **asdict(pool.metrics()),
            replicas=[] if replicas is None else await replicas,
        )


def _retryable(exc: DatabaseError) -> bool:
    if isinstance(exc, TransactionRolledBackError):
        return isinstance(exc.error, TransientError)
    return True


def _enable_echo() -> None:
    if sql_logger.level == logging.NOTSET or sql_logger.level > logging.INFO:
        sql_logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not sql_logger.handlers:
        sql_logger.addHandler(logging.StreamHandler())


_default: Database | None = None


def get_async_db_connection() -> Database:
    """The process-wide Database configured from the environment (made on first call)."""
    global _default
    if _default is None:
        _default = Database()
    return _default
