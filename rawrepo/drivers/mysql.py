"""MySQL and MariaDB through aiomysql.

Every connection is set up to behave like the other backends: strict
``sql_mode`` (a too-long value is an error, not a silent truncation), UTC
(``time_zone='+00:00'``, DATETIME values come back timezone-aware), utf8mb4,
READ COMMITTED, and ``CLIENT.FOUND_ROWS`` so an UPDATE reports the rows it
matched, as PostgreSQL and SQLite do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import operator
import re
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from enum import Enum
from types import ModuleType
from typing import Any, ClassVar

import aiomysql
import pymysql.err as myerr
from pymysql.constants import CLIENT, FIELD_TYPE
from pymysql.constants.SERVER_STATUS import (
    SERVER_STATUS_IN_TRANS,
    SERVER_STATUS_NO_BACKSLASH_ESCAPES,
)
from pymysql.converters import conversions, convert_datetime, escape_str

from rawrepo.config import DatabaseURL, Dialect
from rawrepo.drivers.base import (
    Args,
    Column,
    QueryDescription,
    Row,
    TransactionLoss,
    check_bulk_range,
    describe_each,
    is_ddl,
    out_of_range,
    safe_identifier,
    target_table,
    utc,
)
from rawrepo.errors import (
    CheckViolation,
    ConfigurationError,
    ConnectionFailed,
    ConnectionLost,
    DatabaseError,
    DataError,
    DeadlockDetected,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    SerializationFailure,
    TransientError,
    UniqueViolation,
)
from rawrepo.hosts import HostList, connect_first, hostport
from rawrepo.queries import Query

__all__ = ["MySQLConnection", "MySQLDriver", "translate_error"]

SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"
)
_SESSION_SETUP = (
    f"SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
)
_CONNECTION_LOST = {0, 1053, 1927, 2003, 2006, 2013, 2014, 2045, 2055, 4031}
# Galera: "WSREP has not yet prepared node for application use" (a node that lost its
# cluster's quorum, or still joining): for writes and reads it is as good as gone
_NODE_NOT_READY = {1047}
_READ_ONLY = 1290  # ER_OPTION_PREVENTS_STATEMENT; a demoted server says --read-only
_DATA = {1264, 1265, 1292, 1366, 1406, 1367, 3140, 4078}
_BY_CODE: dict[int, type[DatabaseError]] = {
    1062: UniqueViolation,
    1586: UniqueViolation,
    1451: ForeignKeyViolation,
    1452: ForeignKeyViolation,
    1216: ForeignKeyViolation,
    1217: ForeignKeyViolation,
    1048: NotNullViolation,
    1364: NotNullViolation,
    4025: CheckViolation,  # MariaDB
    3819: CheckViolation,  # MySQL
    1213: DeadlockDetected,
    1020: SerializationFailure,  # MariaDB: record changed since last read
    1205: TransientError,  # lock wait timeout
}
_FK_RE = re.compile(r"\(`[^`]*`\.`(?P<table>[^`]*)`, CONSTRAINT `(?P<constraint>[^`]*)`")
_KEY_RE = re.compile(r"for key '(?:(?P<table>[^'.]*)\.)?(?P<constraint>[^']*)'")
_CHECK_RE = re.compile(r"CONSTRAINT `(?P<constraint>[^`]*)` failed for `[^`]*`\.`(?P<table>[^`]*)`")
_CHECK8_RE = re.compile(r"Check constraint '(?P<constraint>[^']*)' is violated")
_COLUMN_RE = re.compile(r"(?:Column|Field) '(?P<column>[^']*)'")
_URL_OPTIONS = {"connect_timeout", "charset", "wsrep_sync_wait"}


def translate_error(
    exc: BaseException, query: Query | None = None, errors: ModuleType = myerr
) -> DatabaseError:
    """Map a driver or socket exception to the rawrepo class. ``errors`` is the driver's
    PEP 249 exception module (PyMySQL's for aiomysql, ``asyncmy.errors`` for asyncmy)."""
    qname = query.name if query is not None else None
    where = f" [query {qname}]" if qname else ""
    if isinstance(exc, errors.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        text = f"{message}{where}"
        cls = _BY_CODE.get(code)
        if cls is None:
            if (
                code in _CONNECTION_LOST
                or code in _NODE_NOT_READY
                or (code == _READ_ONLY and "read-only" in message.replace("_", "-"))
                or isinstance(exc, errors.InterfaceError)
            ):
                cls = ConnectionLost
            elif code in _DATA or isinstance(exc, errors.DataError):
                cls = DataError
            elif isinstance(exc, errors.IntegrityError):
                cls = IntegrityError
            else:
                cls = DatabaseError
        if issubclass(cls, IntegrityError):
            found = (
                _FK_RE.search(message)
                or _KEY_RE.search(message)
                or _CHECK_RE.search(message)
                or _CHECK8_RE.search(message)
            )
            column = _COLUMN_RE.search(message)
            groups = found.groupdict() if found else {}
            return cls(
                text,
                constraint=groups.get("constraint"),
                table=groups.get("table") or target_table(query),
                column=column.group("column") if column else None,
                sqlstate=str(code),
                query=qname,
            )
        return cls(text, sqlstate=str(code), query=qname)
    if isinstance(exc, OverflowError):  # a value with no literal, found before sending
        return DataError(f"a parameter value is out of range: {exc}{where}", query=qname)
    if isinstance(exc, OSError | asyncio.TimeoutError | EOFError | asyncio.IncompleteReadError):
        text = str(exc) or type(exc).__name__
        return ConnectionLost(f"MySQL connection failed: {text}{where}", query=qname)
    return DatabaseError(f"{type(exc).__name__}: {exc}{where}", query=qname)


class _QuietCursor(aiomysql.Cursor):  # type: ignore[misc]
    """A cursor that does not fetch server notes with an extra SHOW WARNINGS round trip
    (strict sql_mode turns the warnings that matter into errors)."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


class _QuietStreamCursor(aiomysql.SSCursor):  # type: ignore[misc]
    """An unbuffered (server-side) cursor without the SHOW WARNINGS round trip."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


def aware_datetime(value: str | bytes) -> Any:
    # DATETIME text is UTC (the session's time_zone); fromisoformat is C code, several
    # times faster than PyMySQL's regex parser, which stays as the fallback.
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        return dt.datetime.fromisoformat(text).replace(tzinfo=utc)
    except ValueError:
        result = convert_datetime(value)
    if isinstance(result, dt.datetime):
        return result.replace(tzinfo=utc)
    return result


_TYPE_NAMES = {value: name.lower() for name, value in vars(FIELD_TYPE).items() if name.isupper()}


def _reuse_last(encode: Callable[[Any], str]) -> Callable[..., str]:
    """``encode`` that returns the last literal again when given the same object again:
    the rows of a bulk insert share their timestamp and foreign-key objects. The cell
    keeps its object alive, so the same identity means the same object."""
    last: tuple[Any, str] = (None, "")

    def encoder(value: Any, mapping: Any = None) -> str:
        nonlocal last
        seen = last
        if seen[0] is value:
            return seen[1]
        literal = encode(value)
        last = (value, literal)
        return literal

    return encoder


@_reuse_last
def _escape_datetime(value: dt.datetime) -> str:
    # A DATETIME literal in UTC (aware values converted, naive ones taken as UTC).
    # isoformat is C code: PyMySQL's str.format of six attributes took 4x as long, and
    # was the largest single cost of a 10,000-row bulk insert.
    tz = value.tzinfo
    if tz is None:
        return f"'{value.isoformat(' ')}'"
    # drop the "+00:00" of an aware UTC value's isoformat
    return f"'{(value if tz is utc else value.astimezone(utc)).isoformat(' ')[:-6]}'"


@_reuse_last
def _escape_uuid(value: uuid.UUID) -> str:
    return f"'{value}'"  # hex digits and dashes: nothing to escape


def make_literal(text: Callable[[str], str], other: Callable[[Any], str]) -> Callable[[Any], str]:
    """A parameter value as an SQL literal: text through ``text``; None, ints, datetimes
    (as UTC), UUIDs and enums (their value) by rawrepo, without a per-value adaptation
    pass or the drivers' dispatch; anything else through ``other`` (the driver's)."""

    def literal(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return text(value)
        if value is None:
            return "NULL"
        if kind is dt.datetime:
            return _escape_datetime(value)
        if kind is uuid.UUID:
            return _escape_uuid(value)
        if kind is int:
            return str(value)
        if isinstance(value, Enum):
            return literal(value.value)
        if isinstance(value, uuid.UUID):  # subclasses, such as asyncpg's
            return _escape_uuid(value)
        if isinstance(value, dt.datetime):
            return _escape_datetime(value)
        if kind is list:
            return _list_literal(literal, value)
        return other(value)

    return literal


def _list_literal(literal: Callable[[Any], str], values: list[Any]) -> str:
    """A list parameter (``IN (:ids)``, loaded as ``IN %(ids)s``) as ``(v1, v2, ...)``;
    an empty one as a subquery that yields no row, so ``IN`` matches nothing and
    ``NOT IN`` everything (``IN ()`` is a syntax error)."""
    if not values:
        return "(SELECT NULL FROM DUAL WHERE FALSE)"
    return "(" + ",".join(map(literal, values)) + ")"


def conversions_for(base: dict[Any, Any], escape_str: Callable[..., str]) -> dict[Any, Any]:
    """A driver's ``conv`` mapping with rawrepo's decoders and encoders: DATETIME read
    as aware UTC; datetimes, UUIDs and enums written by :func:`make_literal` (the
    drivers encode by exact type, falling back to the ``str`` encoder)."""
    literal = make_literal(escape_str, escape_str)  # other types: their str(), as before
    conv = dict(base)
    conv[FIELD_TYPE.DATETIME] = aware_datetime
    conv[FIELD_TYPE.TIMESTAMP] = aware_datetime
    conv[dt.datetime] = _escape_datetime
    conv[uuid.UUID] = _escape_uuid
    conv[str] = conv[list] = lambda value, mapping=None: literal(value)
    return conv


_CONV = conversions_for(conversions, escape_str)


def _aiomysql_escape(conn: Any) -> Callable[[Any], str]:
    """An aiomysql connection's ``escape`` with rawrepo's encoders: aiomysql ignores
    the encoders in ``conv`` (it escapes with PyMySQL's process-wide table), so each of
    its connections gets this instead (see :meth:`MySQLDriver._dial`)."""
    escape_string = conn.escape_string  # honours the session's NO_BACKSLASH_ESCAPES

    def text(value: str) -> str:
        return "'" + str(escape_string(value)) + "'"

    return make_literal(text, functools.partial(aiomysql.Connection.escape, conn))


_INSERT_VALUES = re.compile(
    r"\s*((?:/\* rawrepo:[^*]* \*/ )?(?:INSERT|REPLACE)\b.+\bVALUES?\s*)"
    r"(\(\s*%\(\w+\)s\s*(?:,\s*%\(\w+\)s\s*)*\))"
    r"(\s*(?:ON\s+DUPLICATE\b.*)?);?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
# MySQL's backslash escapes for a quoted string (the drivers' table; a list, which
# str.translate reads 4x faster than a dict), and the characters that need one.
_BACKSLASH_ESCAPES = [chr(x) for x in range(128)]
for _char, _escaped in (
    ("\0", "\\0"),
    ("\\", "\\\\"),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\032", "\\Z"),
    ('"', '\\"'),
    ("'", "\\'"),
):
    _BACKSLASH_ESCAPES[ord(_char)] = _escaped
_NEEDS_ESCAPE = re.compile("[\0\\\\\n\r\032\"']")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Characters per multi-row statement: at most 4 bytes each, so a statement stays under
# the smallest default max_allowed_packet (4 MB, MySQL 5.7).
MAX_STATEMENT_CHARS = 1_000_000


class _MultiRow:
    """``INSERT ... VALUES (%(a)s, %(b)s)`` run for many rows as multi-row INSERTs whose
    text rawrepo builds itself: each value escaped once, in parameter order, with no
    per-row dict (the drivers' ``executemany`` escapes each row into a new dict)."""

    __slots__ = ("get", "postfix", "prefix", "row")

    def __init__(self, prefix: str, row: str, names: tuple[str, ...], postfix: str) -> None:
        self.prefix = prefix
        self.row = row
        self.postfix = postfix
        if len(names) == 1:
            (name,) = names
            self.get: Callable[[Any], tuple[Any, ...]] = lambda args: (args[name],)
        else:
            self.get = operator.itemgetter(*names)

    def statements(self, literal: Callable[[Any], str], rows: Sequence[Args]) -> list[str]:
        get, template = self.get, self.row
        values = [template % tuple(map(literal, get(row))) for row in rows]
        out: list[str] = []
        start, size = 0, len(self.prefix) + len(self.postfix)
        for i, value in enumerate(values):
            if i > start and size + len(value) + 1 > MAX_STATEMENT_CHARS:
                out.append(self.prefix + ",".join(values[start:i]) + self.postfix)
                start, size = i, len(self.prefix) + len(self.postfix)
            size += len(value) + 1
        out.append(self.prefix + ",".join(values[start:]) + self.postfix)
        return out


def _quote(value: str) -> str:
    """A quoted string with MySQL's backslash escapes (as the drivers escape it)."""
    if _NEEDS_ESCAPE.search(value) is None:
        return "'" + value + "'"
    return "'" + value.translate(_BACKSLASH_ESCAPES) + "'"


def _literal_for(conn: Any) -> Callable[[Any], str]:
    """The connection's ``literal`` for a bulk insert: text quoted without the drivers'
    per-string session check, unless the session runs with NO_BACKSLASH_ESCAPES (then
    the driver's own function does it all)."""
    driver_literal: Callable[[Any], str] = conn.literal
    if int(getattr(conn, "server_status", 0) or 0) & SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        return driver_literal
    return make_literal(_quote, driver_literal)


_plans: dict[str, _MultiRow | None] = {}


def _multi_row_plan(sql: str) -> _MultiRow | None:
    """The multi-row plan of a single-row INSERT/REPLACE, or None for other statements."""
    try:
        return _plans[sql]
    except KeyError:
        pass
    plan = None
    m = _INSERT_VALUES.match(sql)
    if m:
        row = m.group(2)
        # the text outside the VALUES tuple is sent as is: undo the loader's %% escaping
        plan = _MultiRow(
            m.group(1) % (),
            _PLACEHOLDER.sub("%s", row),
            tuple(_PLACEHOLDER.findall(row)),
            (m.group(3) or "") % (),
        )
    _plans[sql] = plan
    return plan


class MySQLConnection:
    """One aiomysql connection with rawrepo's method set.

    The asyncmy driver subclasses it: the two drivers share PyMySQL's API, and differ
    in their exception module, their unbuffered cursor and how a closed socket shows.
    """

    __slots__ = ("_conn", "_driver", "created_at", "host")
    _errors: ClassVar[ModuleType] = myerr
    _stream_cursor: ClassVar[type] = _QuietStreamCursor

    def __init__(self, conn: Any, driver: MySQLDriver | None = None) -> None:
        self._conn = conn
        self._driver = driver
        self.created_at = time.monotonic()
        self.host = ""

    def _error(
        self, exc: BaseException, query: Query | None = None, args: Args | None = None
    ) -> DatabaseError:
        if isinstance(exc, OverflowError) and isinstance(args, dict):
            return out_of_range(query, args.items())  # found while escaping: nothing sent
        return translate_error(exc, query, self._errors)

    @property
    def raw(self) -> Any:
        """The underlying driver connection (for tests and fast paths)."""
        return self._conn

    @property
    def thread_id(self) -> int:
        """The server's id for this connection (what ``KILL`` takes)."""
        return int(self._conn.thread_id())

    def is_closed(self) -> bool:
        conn = self._conn
        if conn.closed:
            return True
        reader = getattr(conn, "_reader", None)
        return bool(reader is not None and reader.at_eof())

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket may fail
            self._conn.close()

    async def abort(self) -> bool:
        # Closing the socket does not stop the statement: the server runs it to its end,
        # holding the transaction's locks all along. Kill the server thread from another
        # connection (as the mysql client does on Ctrl-C); its transaction rolls back.
        thread_id = self.thread_id
        await self.close()
        if self._driver is not None:
            await self._driver.kill(thread_id, host=self.host)
        return False

    async def _plumbing(self, sql: str) -> None:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(sql)
        except Exception as exc:
            raise self._error(exc) from exc

    async def begin(self) -> None:
        try:
            await self._conn.begin()
        except Exception as exc:
            raise self._error(exc) from exc

    async def commit(self) -> None:
        try:
            await self._conn.commit()
        except Exception as exc:
            raise self._error(exc) from exc

    async def rollback(self) -> None:
        try:
            await self._conn.rollback()
        except Exception as exc:
            raise self._error(exc) from exc

    async def transaction_lost(self, error: DatabaseError) -> TransactionLoss | None:
        # InnoDB rolls the whole transaction back on a deadlock (and on some other
        # errors); later statements would then autocommit one by one. An error packet
        # carries no status flags, so one no-op statement asks whether the transaction
        # is still open.
        if not error.sqlstate or error.sqlstate == "0":
            return None  # found by the driver before anything was sent
        try:
            await self._plumbing("DO 0")
        except DatabaseError:
            return "rolled back"
        if int(self._conn.server_status or 0) & SERVER_STATUS_IN_TRANS:
            return None
        return "rolled back"

    async def savepoint(self, name: str) -> None:
        await self._plumbing(f"SAVEPOINT {name}")

    async def release_savepoint(self, name: str) -> None:
        await self._plumbing(f"RELEASE SAVEPOINT {name}")

    async def rollback_to_savepoint(self, name: str) -> None:
        await self._plumbing(f"ROLLBACK TO SAVEPOINT {name}")

    async def _run(self, query: Query, args: Args) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(query.sql, args)
                rows = await cur.fetchall()
                names = [d[0] for d in cur.description] if cur.description else []
        except Exception as exc:
            raise self._error(exc, query, args) from exc
        return names, list(rows or ())

    async def fetch_all(self, query: Query, args: Args) -> list[Row]:
        names, rows = await self._run(query, args)
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def fetch_one(self, query: Query, args: Args) -> Row | None:
        names, rows = await self._run(query, args)
        return dict(zip(names, rows[0], strict=True)) if rows else None

    async def fetch_value(self, query: Query, args: Args) -> Any:
        _, rows = await self._run(query, args)
        return rows[0][0] if rows else None

    async def stream(
        self, query: Query, args: Args, batch_size: int
    ) -> AsyncGenerator[list[Row], None]:
        try:
            cur = await self._conn.cursor(self._stream_cursor)
            await cur.execute(query.sql, args)
            names = [d[0] for d in cur.description] if cur.description else []
        except Exception as exc:
            raise self._error(exc, query, args) from exc
        try:
            while True:
                try:
                    rows = await cur.fetchmany(batch_size)
                except Exception as exc:
                    raise self._error(exc, query) from exc
                if not rows:
                    return
                yield [dict(zip(names, row, strict=True)) for row in rows]
        finally:
            with contextlib.suppress(Exception):  # reads what the caller left unread
                await cur.close()

    async def execute(self, query: Query, args: Args) -> int:
        try:
            async with self._conn.cursor() as cur:
                return int(await cur.execute(query.sql, args))
        except Exception as exc:
            raise self._error(exc, query, args) from exc

    async def execute_many(self, query: Query, args: Sequence[Args]) -> int:
        if not args:
            return 0
        plan = _multi_row_plan(query.sql)
        if plan is None:
            check_bulk_range(query, args)  # the driver sends the rows one by one
        try:
            async with self._conn.cursor() as cur:
                if plan is None:
                    count = await cur.executemany(query.sql, args)
                    return int(count or 0)
                count = 0
                for statement in plan.statements(_literal_for(self._conn), args):
                    count += int(await cur.execute(statement))
                return count
        except OverflowError as exc:  # escaping all rows comes before the first statement
            check_bulk_range(query, args)  # names the parameter
            raise self._error(exc, query) from exc
        except Exception as exc:
            raise self._error(exc, query) from exc

    async def ping(self) -> None:
        await self._plumbing("SELECT 1")

    async def explain(self, query: Query, args: Args) -> list[str]:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(f"EXPLAIN {query.sql}", args)
                names = [d[0] for d in cur.description]
                rows = await cur.fetchall()
        except Exception as exc:
            raise self._error(exc, query, args) from exc
        return [
            "  ".join(f"{n}={v}" for n, v in zip(names, row, strict=True) if v is not None)
            for row in rows
        ]

    async def describe_one(self, query: Query, args: Args) -> QueryDescription:
        """Run the statement inside a transaction that is always rolled back."""
        if is_ddl(query):
            return QueryDescription((), note="DDL is not run (MySQL commits it implicitly)")
        await self.begin()
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(query.sql, args)
                description = cur.description or ()
        except Exception as exc:
            raise self._error(exc, query) from exc
        finally:
            await self.rollback()
        return QueryDescription(
            tuple(
                Column(name=d[0], type=_TYPE_NAMES.get(d[1]), nullable=bool(d[6]))
                for d in description
            )
        )

    async def server_version(self) -> str:
        info = str(self._conn.get_server_info())
        if "mariadb" in info.lower():
            info = info.removeprefix("5.5.5-")  # MariaDB's replication-compatible prefix
            return f"MariaDB {info.split('-')[0]}"
        return f"MySQL {info.split('-')[0]}"


class MySQLDriver:
    """Connections to one MySQL/MariaDB database through aiomysql."""

    dialect: Dialect = "mysql"
    connection_class: ClassVar[type[MySQLConnection]] = MySQLConnection
    _errors: ClassVar[ModuleType] = myerr
    _database_key: ClassVar[str] = "db"
    _quiet_cursor: ClassVar[type] = _QuietCursor

    def __init__(self, url: DatabaseURL, **options: Any) -> None:
        self.url = url
        unknown = set(url.query) - _URL_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"DATABASE_URL has unknown option(s) {', '.join(sorted(unknown))} for MySQL;"
                f" accepted: {', '.join(sorted(_URL_OPTIONS))}",
                variable="DATABASE_URL",
            )
        self._kwargs: dict[str, Any] = {
            "host": url.host,
            "port": url.port,
            "user": url.username or "root",
            "password": url.password or "",
            self._database_key: url.database,
            "charset": url.query.get("charset", "utf8mb4"),
            "autocommit": True,
            "client_flag": CLIENT.FOUND_ROWS,
            **self._driver_kwargs(),
        }
        self._kwargs.update(options)
        self.hosts = HostList(url.hosts)
        self._setup: tuple[str, ...] = _SESSION_SETUP
        sync_wait = url.query.get("wsrep_sync_wait")
        if sync_wait is not None:
            if not sync_wait.isdigit() or not 0 <= int(sync_wait) <= 15:
                raise ConfigurationError(
                    "DATABASE_URL option wsrep_sync_wait must be an integer 0..15 (a bit"
                    f" mask of Galera's causality checks; 1: reads), got {sync_wait!r}",
                    variable="DATABASE_URL",
                )
            self._setup = (*_SESSION_SETUP, f"SET SESSION wsrep_sync_wait = {int(sync_wait)}")

    def _driver_kwargs(self) -> dict[str, Any]:
        """Connection arguments that differ between aiomysql and asyncmy."""
        return {"conv": _CONV, "cursorclass": _QuietCursor}

    async def _dial(self, **kwargs: Any) -> Any:
        """Open one driver connection."""
        conn = await aiomysql.connect(**kwargs)
        conn.escape = _aiomysql_escape(conn)
        return conn

    async def _open(self, timeout: float, **overrides: Any) -> Any:
        conn, _ = await self._open_host(timeout, **overrides)
        return conn

    async def _open_host(self, timeout: float, **overrides: Any) -> tuple[Any, str]:
        """A connection to the first of the URL's hosts that takes one (in order, from
        the one that took the last), and that host's ``host:port``."""
        return await connect_first(
            self.hosts,
            lambda host, port: self._open_one(host, port, timeout, **overrides),
            describe=str(self.url),
        )

    async def _open_one(
        self, host: str, port: int, timeout: float, **overrides: Any
    ) -> tuple[Any, str]:
        name = hostport(host, port)
        kwargs = {
            **self._kwargs,
            "host": host,
            "port": port,
            **overrides,
            "connect_timeout": timeout,
        }
        try:
            async with asyncio.timeout(timeout + 1):
                conn = await self._dial(**kwargs)
        except Exception as exc:
            err = translate_error(exc, None, self._errors)
            # a refused login or a missing database is a failure to connect too, and no
            # retry mends it; a host that is down may come back
            cls = ConnectionLost if isinstance(err, ConnectionLost) else ConnectionFailed
            where = name if len(self.hosts.hosts) > 1 else str(self.url)
            raise cls(
                f"cannot connect to {where}: {err.message}", sqlstate=err.sqlstate, host=name
            ) from exc
        try:
            async with conn.cursor() as cur:
                for statement in self._setup:
                    await cur.execute(statement)
        except Exception as exc:
            conn.close()
            err = translate_error(exc, None, self._errors)
            if isinstance(err, ConnectionLost):
                err.host = name
                err.message = f"cannot connect to {name}: {err.message}"
            raise err from exc
        return conn, name

    async def connect(self, timeout: float) -> MySQLConnection:
        conn, host = await self._open_host(timeout)
        connection = self.connection_class(conn, self)
        connection.host = host
        return connection

    async def kill(self, thread_id: int, timeout: float = 2.0, *, host: str = "") -> None:
        """Kill a server connection (its running statement and its transaction) from a
        new connection to the same ``host`` (``host:port``; default: the URL's first).
        Never raises: a thread that has already ended is fine."""
        kwargs = {**self._kwargs, "connect_timeout": timeout}
        for name, port in self.hosts.hosts:
            if hostport(name, port) == host:
                kwargs.update(host=name, port=port)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                conn = await self._dial(**kwargs)
                try:
                    async with conn.cursor() as cur:
                        await cur.execute(f"KILL {int(thread_id)}")
                finally:
                    conn.close()

    async def _admin(self, sql: str) -> None:
        conn = await self._open(10.0, **{self._database_key: None})
        try:
            # quiet: DROP DATABASE IF EXISTS leaves a note when there was none to drop
            async with conn.cursor(self._quiet_cursor) as cur:
                await cur.execute(sql)
        except Exception as exc:
            raise translate_error(exc, None, self._errors) from exc
        finally:
            conn.close()

    async def _describe_connection(self) -> MySQLConnection:
        conn = await self.connect(10.0)
        # Placeholder values reference no real rows: foreign keys off for this session
        # (so an INSERT runs through), and never wait long for another session's locks.
        try:
            await conn._plumbing("SET SESSION foreign_key_checks = 0, innodb_lock_wait_timeout = 5")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def describe(
        self, queries: Sequence[tuple[Query, Args]]
    ) -> list[QueryDescription | DatabaseError]:
        return await describe_each(self._describe_connection, queries)

    async def create_database(self, name: str) -> None:
        await self._admin(
            f"CREATE DATABASE `{safe_identifier(name)}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )

    async def drop_database(self, name: str) -> None:
        await self._admin(f"DROP DATABASE IF EXISTS `{safe_identifier(name)}`")
