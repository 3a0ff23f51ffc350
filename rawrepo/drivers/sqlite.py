"""SQLite through aiosqlite.

Each connection runs with WAL, a busy timeout and ``PRAGMA foreign_keys=ON``, and
has a Unicode-aware ``lower()`` (see :func:`unicode_lower`).
SQLite allows one writer at a time, so rawrepo keeps a single-writer
discipline inside the process: a transaction takes the database's write lock
(an asyncio lock, waited for without blocking the event loop) before its
first write and starts with ``BEGIN IMMEDIATE``; read-only transactions start
``BEGIN`` (deferred) and run beside the writer. The busy timeout covers other
processes. Every statement is one hop to the connection's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from rawrepo.config import DatabaseURL, Dialect
from rawrepo.drivers.base import (
    Args,
    Column,
    QueryDescription,
    Row,
    TransactionLoss,
    describe_each,
    name_parameter,
    out_of_range,
    sqlite_timestamp,
    target_table,
)
from rawrepo.errors import (
    CheckViolation,
    ConnectionFailed,
    DatabaseError,
    DataError,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    PoolTimeoutError,
    SerializationFailure,
    TransientError,
    UniqueViolation,
)
from rawrepo.queries import Query

__all__ = ["SQLiteConnection", "SQLiteDriver", "translate_error", "unicode_lower"]

T = TypeVar("T")

_BY_CODE: dict[int, type[DatabaseError]] = {
    2067: UniqueViolation,  # SQLITE_CONSTRAINT_UNIQUE
    1555: UniqueViolation,  # SQLITE_CONSTRAINT_PRIMARYKEY
    787: ForeignKeyViolation,  # SQLITE_CONSTRAINT_FOREIGNKEY
    1299: NotNullViolation,  # SQLITE_CONSTRAINT_NOTNULL
    275: CheckViolation,  # SQLITE_CONSTRAINT_CHECK
    517: SerializationFailure,  # SQLITE_BUSY_SNAPSHOT
    5: TransientError,  # SQLITE_BUSY
    261: TransientError,  # SQLITE_BUSY_RECOVERY
    6: TransientError,  # SQLITE_LOCKED
    18: DataError,  # SQLITE_TOOBIG
    20: DataError,  # SQLITE_MISMATCH
}

_BUSY_REASONS: dict[int, str] = {
    517: "another connection wrote after this transaction's first read, so this"
    " transaction can no longer write: its snapshot is stale",
    5: "another connection holds the database's write lock",
}

# An unnamed CHECK (length(col) <= n), as a schema writes VARCHAR(n) for SQLite.
_LENGTH_CHECK = re.compile(
    r"(?:length|char_length)\(\s*[\"`\[]?(?P<column>\w+)[\"`\]]?\s*\)\s*<=?\s*\d+", re.I
)


def translate_error(exc: BaseException, query: Query | None = None) -> DatabaseError:
    """Map a sqlite3/aiosqlite exception to the rawrepo class for the same failure."""
    qname = query.name if query is not None else None
    where = f" [query {qname}]" if qname else ""
    message = str(exc) or type(exc).__name__
    text = f"{name_parameter(message, query)}{where}"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        cls = _BY_CODE.get(code) if isinstance(code, int) else None
        if cls is None:
            if isinstance(exc, sqlite3.IntegrityError):
                cls = IntegrityError
            elif isinstance(exc, sqlite3.ProgrammingError) and "closed" in message:
                cls = ConnectionFailed
            elif isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
                cls = DataError  # a parameter of a type SQLite cannot bind
            else:
                cls = DatabaseError
        sqlstate = getattr(exc, "sqlite_errorname", None)
        if issubclass(cls, IntegrityError):
            table = column = constraint = None
            _, _, subject = message.partition(" failed: ")
            subject = subject.split(",")[0].strip()
            too_long = _LENGTH_CHECK.fullmatch(subject) if cls is CheckViolation else None
            if too_long:
                # SQLite's spelling of VARCHAR(n): fail like the servers do.
                return DataError(
                    f"value too long for column {too_long.group('column')}: {text}",
                    sqlstate=sqlstate,
                    query=qname,
                )
            if "." in subject:
                table, column = subject.split(".", 1)
            elif subject:
                constraint = subject
            return cls(
                text,
                constraint=constraint,
                table=table or target_table(query),
                column=column,
                sqlstate=sqlstate,
                query=qname,
            )
        if code in _BUSY_REASONS:
            # SQLite says "database is locked" for both; say which, and what to do.
            return cls(
                f"{message} ({_BUSY_REASONS[code]}){where}",
                sqlstate=sqlstate,
                query=qname,
                hint="retry the whole transaction, e.g. with Database.run_in_transaction",
            )
        return cls(text, sqlstate=sqlstate, query=qname)
    if isinstance(exc, OverflowError):  # an int beyond SQLite's 64-bit INTEGER
        return DataError(f"{message}{where}", query=qname)
    if isinstance(exc, ValueError) and ("onnection closed" in message or "no active" in message):
        return ConnectionFailed(f"SQLite connection is closed{where}", query=qname)
    return DatabaseError(f"{type(exc).__name__}: {message}{where}", query=qname)


class _WithoutValues(logging.Filter):
    """aiosqlite logs every call it runs at DEBUG, with its arguments: the SQL and the
    parameter values. rawrepo promises that values never reach a log, at any level, so
    each such record keeps the function's name and loses its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_values(arg) for arg in record.args)
        return True


def _without_values(arg: object) -> object:
    if isinstance(arg, functools.partial):
        return f"{getattr(arg.func, '__qualname__', type(arg.func).__name__)}(...)"
    return arg


def _install_log_filter() -> None:
    log = logging.getLogger("aiosqlite")
    if not any(isinstance(f, _WithoutValues) for f in log.filters):
        log.addFilter(_WithoutValues())


_install_log_filter()


def unicode_lower(value: Any) -> Any:
    """SQL ``lower()`` with Unicode case folding (``É`` -> ``é``), as PostgreSQL and
    MySQL fold; SQLite's built-in folds ASCII only. Registered on every connection,
    replacing the built-in, so ``lower(title) LIKE lower(:pattern)`` ignores case
    for any script. (An index on a ``lower(...)`` expression built by another SQLite
    client would disagree for non-ASCII text.)

    Each character folds alone, as in PostgreSQL and MySQL: Python's ``str.lower``
    turns a word-final capital sigma (U+03A3) into the final form (U+03C2) but any
    other into U+03C3, so a term ending in one would stop matching a title that
    goes on after it."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    # Final sigma is Unicode's only context-dependent lowercase mapping.
    return str(value).replace("\u03a3", "\u03c3").lower()


def _adapt(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return sqlite_timestamp(value)
    if isinstance(value, Enum):
        return value.value
    return _adapt_other(value)


def _adapt_other(value: Any) -> Any:
    """The values sqlite3 cannot bind itself, as the other backends store them: Decimal
    as its exact text (a NUMERIC column takes it as a number), date and time in ISO
    form, and a list parameter (``IN (:ids)``) as the JSON array ``json_each`` reads."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return json.dumps([_adapt(item) for item in value], ensure_ascii=False)
    return value


def _adapt_args(query: Query, args: Args) -> dict[str, Any]:
    named = cast(dict[str, Any], args)
    try:
        return {k: _adapt(v) for k, v in named.items()}
    except OverflowError as exc:  # a datetime with no UTC equivalent in years 1..9999
        raise out_of_range(query, named.items()) from exc


def _rows(cur: sqlite3.Cursor) -> list[Row]:
    names = [d[0] for d in cur.description] if cur.description else []
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _fetch_all(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[Row]:
    cur = conn.execute(sql, params)
    try:
        return _rows(cur)
    finally:
        cur.close()


def _fetch_value(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> Any:
    cur = conn.execute(sql, params)
    try:
        row = cur.fetchone()
        cur.fetchall()  # finish the statement (RETURNING runs to the end)
        return None if row is None else row[0]
    finally:
        cur.close()


def _execute(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> int:
    cur = conn.execute(sql, params)
    try:
        cur.fetchall()
        return max(cur.rowcount, 0)
    finally:
        cur.close()


def _execute_many(conn: sqlite3.Connection, sql: str, params: list[dict[str, Any]]) -> int:
    cur = conn.executemany(sql, params)
    try:
        return max(cur.rowcount, 0)
    finally:
        cur.close()


def _after_begin(
    conn: sqlite3.Connection,
    begin: str,
    fn: Callable[[sqlite3.Connection, str, Any], T],
    sql: str,
    params: Any,
) -> T:
    conn.execute(begin)
    return fn(conn, sql, params)


def _open_cursor(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> sqlite3.Cursor:
    return conn.execute(sql, params)


def _fetch_many(cur: sqlite3.Cursor, size: int) -> list[Row]:
    names = [d[0] for d in cur.description] if cur.description else []
    return [dict(zip(names, row, strict=True)) for row in cur.fetchmany(size)]


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.rollback()


def _statement(sql: str) -> Query:
    """A plumbing statement as a Query (not from a file)."""
    return Query(
        name="(session)",
        dialect="sqlite",
        path=Path("(session)"),
        sql=sql,
        source=sql,
        description="",
        params=(),
        is_write=False,
    )


def _description(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[str]:
    cur = conn.execute(sql, params)
    try:
        return [d[0] for d in cur.description] if cur.description else []
    finally:
        cur.close()


class SQLiteConnection:
    """One aiosqlite connection with rawrepo's method set."""

    def __init__(self, conn: aiosqlite.Connection, driver: SQLiteDriver) -> None:
        self._conn = conn
        self._driver = driver
        self.created_at = time.monotonic()
        self.host = str(driver.url.database)
        self._closed = False
        self._in_transaction = False
        self._want_transaction = False
        self._holds_write_lock = False

    @property
    def raw(self) -> aiosqlite.Connection:
        """The underlying aiosqlite connection."""
        return self._conn

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # aiosqlite's _execute runs one function in the connection's thread: one hop.
        result: T = await self._conn._execute(fn, *args)  # type: ignore[no-untyped-call]
        return result

    def is_closed(self) -> bool:
        return self._closed or not self._conn._running

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            self._driver.write_lock.release()

    async def close(self) -> None:
        self._release_write_lock()
        self._in_transaction = self._want_transaction = False
        if self._closed:
            # aiosqlite's close() is not reentrant: a second one queues a stop for a worker
            # thread that has already ended, and waits for it forever.
            return
        self._closed = True
        self._release_write_lock()
        with contextlib.suppress(Exception):  # the thread may already be gone
            await self._conn.close()

    async def abort(self) -> bool:
        try:
            inner = self._conn._connection
            if inner is not None:
                inner.interrupt()  # thread-safe: stops the statement in the worker thread
            # queued behind the interrupted statement, which may or may not have begun
            await self._call(_rollback_if_open, self._conn._conn)
            self._in_transaction = self._want_transaction = False
            self._release_write_lock()
            return True
        except BaseException:
            await self.close()
            return False

    async def _take_write_lock(self) -> None:
        lock = self._driver.write_lock
        if not lock.locked():
            await lock.acquire()  # free: taken at once, no timer needed
            self._holds_write_lock = True
            return
        timeout = self._driver.lock_timeout
        try:
            async with asyncio.timeout(timeout):
                await lock.acquire()
        except TimeoutError:
            raise PoolTimeoutError(
                f"waited {timeout:g}s for SQLite's single writer (another session holds an"
                " open write transaction)"
            ) from None
        self._holds_write_lock = True

    async def _plumbing(self, sql: str) -> None:
        try:
            await self._call(sqlite3.Connection.execute, self._conn._conn, sql)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def _prepare(self, *, write: bool) -> str | None:
        """Take the write lock before a write; return the BEGIN statement that must run
        (in the same thread hop as the statement) when a transaction is due."""
        if write and not self._holds_write_lock:
            await self._take_write_lock()
        if self._want_transaction and not self._in_transaction:
            return "BEGIN IMMEDIATE" if write else "BEGIN"
        return None

    async def begin(self) -> None:
        # No hop here: the BEGIN travels with the transaction's first statement.
        self._want_transaction = True

    async def _end(self, sql: str) -> None:
        self._want_transaction = False
        if not self._in_transaction:
            self._release_write_lock()
            return
        try:
            await self._plumbing(sql)
        finally:
            self._in_transaction = False
            self._release_write_lock()

    async def commit(self) -> None:
        await self._end("COMMIT")

    async def transaction_lost(self, error: DatabaseError) -> TransactionLoss | None:
        # SQLite rolls the transaction back itself after some errors (SQLITE_FULL,
        # SQLITE_IOERR, SQLITE_NOMEM, an interrupted write); later statements would then
        # autocommit one by one.
        raw = self._conn._connection
        if self._in_transaction and raw is not None and not raw.in_transaction:
            self._in_transaction = False
            return "rolled back"
        return None

    async def rollback(self) -> None:
        await self._end("ROLLBACK")

    async def savepoint(self, name: str) -> None:
        await self._run(_execute, _statement(f"SAVEPOINT {name}"), {})

    async def release_savepoint(self, name: str) -> None:
        await self._plumbing(f"RELEASE SAVEPOINT {name}")

    async def rollback_to_savepoint(self, name: str) -> None:
        await self._plumbing(f"ROLLBACK TO SAVEPOINT {name}")

    async def _run(self, fn: Callable[..., T], query: Query, params: Any) -> T:
        if query.is_write or self._want_transaction:
            begin = await self._prepare(write=query.is_write)
        else:
            begin = None  # a read outside a transaction: nothing to prepare
        try:
            if begin is None:
                return await self._call(fn, self._conn._conn, query.sql, params)
            result: T = await self._call(
                _after_begin, self._conn._conn, begin, fn, query.sql, params
            )
            self._in_transaction = True
            return result
        except Exception as exc:
            if begin is not None and self._conn._connection is not None:
                self._in_transaction = self._conn._connection.in_transaction
            raise translate_error(exc, query) from exc
        finally:
            if not self._want_transaction:
                self._release_write_lock()  # an autocommit write holds it only for itself

    async def fetch_all(self, query: Query, args: Args) -> list[Row]:
        return await self._run(_fetch_all, query, _adapt_args(query, args))

    async def fetch_one(self, query: Query, args: Args) -> Row | None:
        rows = await self._run(_fetch_all, query, _adapt_args(query, args))
        return rows[0] if rows else None

    async def fetch_value(self, query: Query, args: Args) -> Any:
        return await self._run(_fetch_value, query, _adapt_args(query, args))

    async def execute(self, query: Query, args: Args) -> int:
        return await self._run(_execute, query, _adapt_args(query, args))

    async def execute_many(self, query: Query, args: Sequence[Args]) -> int:
        if not args:
            return 0
        return await self._run(_execute_many, query, [_adapt_args(query, a) for a in args])

    async def stream(
        self, query: Query, args: Args, batch_size: int
    ) -> AsyncGenerator[list[Row], None]:
        cur = await self._run(_open_cursor, query, _adapt_args(query, args))
        try:
            while True:
                try:
                    rows = await self._call(_fetch_many, cur, batch_size)
                except Exception as exc:
                    raise translate_error(exc, query) from exc
                if not rows:
                    return
                yield rows
        finally:
            with contextlib.suppress(Exception):
                await self._call(sqlite3.Cursor.close, cur)

    async def ping(self) -> None:
        await self._plumbing("SELECT 1")

    async def explain(self, query: Query, args: Args) -> list[str]:
        plan = Query(
            name=query.name,
            dialect=query.dialect,
            path=query.path,
            sql=f"EXPLAIN QUERY PLAN {query.sql}",
            source=query.source,
            description=query.description,
            params=query.params,
            is_write=False,
        )
        rows = await self._run(_fetch_all, plan, _adapt_args(query, args))
        depth: dict[int, int] = {0: -1}
        lines = []
        for row in rows:
            level = depth.get(int(row["parent"]), -1) + 1
            depth[int(row["id"])] = level
            lines.append("  " * level + str(row["detail"]))
        return lines

    async def describe_one(self, query: Query, args: Args) -> QueryDescription:
        """Run the statement inside a transaction that is always rolled back."""
        await self._plumbing("BEGIN")
        self._in_transaction = True
        try:
            # Placeholder values reference no real rows: foreign keys are checked at
            # COMMIT instead, which never comes.
            await self._plumbing("PRAGMA defer_foreign_keys = ON")
            names = await self._call(
                _description, self._conn._conn, query.sql, _adapt_args(query, args)
            )
        except Exception as exc:
            raise translate_error(exc, query) from exc
        finally:
            await self.rollback()
        return QueryDescription(tuple(Column(name=n) for n in names))

    async def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"


class SQLiteDriver:
    """Connections to one SQLite file (or one shared in-memory database)."""

    dialect: Dialect = "sqlite"

    def __init__(self, url: DatabaseURL, *, busy_timeout: float = 30.0, **options: Any) -> None:
        self.url = url
        self.is_memory = url.is_memory
        self.path = ":memory:" if self.is_memory else str(url.database)
        self.busy_timeout = busy_timeout
        self.lock_timeout = busy_timeout
        self._write_lock: asyncio.Lock | None = None
        self._options = options

    @property
    def write_lock(self) -> asyncio.Lock:
        """The single-writer lock shared by this driver's connections."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    async def connect(self, timeout: float) -> SQLiteConnection:
        try:
            if not self.is_memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = aiosqlite.connect(self.path, isolation_level=None, **self._options)
            conn._thread.daemon = True  # never keep the interpreter alive at exit
            async with asyncio.timeout(timeout):
                await conn
            busy_ms = int(self.busy_timeout * 1000)
            pragmas = [f"PRAGMA busy_timeout = {busy_ms}", "PRAGMA foreign_keys = ON"]
            if not self.is_memory:
                pragmas += ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
            for pragma in pragmas:
                await conn.execute(pragma)
            await conn.create_function("lower", 1, unicode_lower, deterministic=True)
        except Exception as exc:
            err = translate_error(exc)
            raise ConnectionFailed(f"cannot open {self.url}: {err.message}") from exc
        return SQLiteConnection(conn, self)

    async def describe(
        self, queries: Sequence[tuple[Query, Args]]
    ) -> list[QueryDescription | DatabaseError]:
        return await describe_each(self._describe_connection, queries)

    async def _describe_connection(self) -> SQLiteConnection:
        return await self.connect(10.0)

    async def create_database(self, name: str) -> None:
        Path(name).parent.mkdir(parents=True, exist_ok=True)

    async def drop_database(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
