"""The driver contract: every driver module offers the same small method set.

A :class:`Driver` makes connections for one database URL; a
:class:`Connection` runs loaded :class:`~rawrepo.queries.Query` objects with
arguments already bound by :meth:`Query.bind`. Driver errors never leave a
driver module: they are translated into :mod:`rawrepo.errors` at this seam.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rawrepo.config import DatabaseURL, Dialect
from rawrepo.errors import ConfigurationError, DatabaseError, DataError
from rawrepo.queries import Query

__all__ = [
    "Args",
    "Column",
    "Connection",
    "Driver",
    "QueryDescription",
    "Row",
    "TransactionLoss",
    "check_bulk_range",
    "describe_each",
    "is_ddl",
    "load_driver",
    "name_parameter",
    "out_of_range",
    "safe_identifier",
    "target_table",
    "utc",
]

Row = dict[str, Any]
Args = tuple[Any, ...] | dict[str, Any]
utc = dt.UTC

TransactionLoss = Literal["aborted", "rolled back"]
"""What a failed statement did to its transaction (see :meth:`Connection.transaction_lost`)."""


@dataclass(frozen=True)
class Column:
    """One result column as the database describes it."""

    name: str
    type: str | None = None
    """The database's type name (None where the driver cannot tell, e.g. SQLite)."""
    nullable: bool | None = None
    """False: NOT NULL; True: may be NULL; None: unknown (a computed expression)."""


@dataclass(frozen=True)
class QueryDescription:
    """What the database says about one statement (see :meth:`Driver.describe`)."""

    columns: tuple[Column, ...]
    parameter_types: tuple[str, ...] | None = None
    note: str | None = None
    """Set when the statement could only be checked partly, saying why."""


_DDL = frozenset({"create", "alter", "drop", "truncate", "rename", "grant", "revoke", "comment"})


def is_ddl(query: Query) -> bool:
    """True for schema statements (which MySQL commits implicitly)."""
    words = query.body.split(None, 1)
    return bool(words) and words[0].lower() in _DDL


class Connection(Protocol):
    """One open connection to the server, used by one session at a time."""

    created_at: float
    """``time.monotonic()`` when the connection was opened (for pool recycling)."""
    host: str
    """``host:port`` of the server the connection reached (SQLite: the file)."""

    def is_closed(self) -> bool:
        """True when the connection is known to be unusable (closed or lost)."""
        ...

    async def close(self) -> None:
        """Close politely; never raises."""
        ...

    async def abort(self) -> bool:
        """A statement was interrupted mid-flight (its caller was cancelled): stop it on
        the server where the driver can, then close the connection, or roll back and
        return True if the connection is fit for reuse. Never raises."""
        ...

    async def begin(self) -> None:
        """Start a transaction (SQLite defers it to the first statement)."""
        ...

    async def commit(self) -> None:
        """Commit; TransactionRolledBackError if the server rolled back instead."""
        ...

    async def transaction_lost(self, error: DatabaseError) -> TransactionLoss | None:
        """After ``error`` from a statement inside an open transaction: None when the
        transaction lives on; ``"aborted"`` when it can no longer commit but ROLLBACK TO
        SAVEPOINT recovers it (PostgreSQL, after any server error); ``"rolled back"``
        when the server has already rolled it back, savepoints and all (MySQL/MariaDB
        after a deadlock, SQLite after a full disk). Never raises."""
        ...

    async def rollback(self) -> None: ...

    async def savepoint(self, name: str) -> None: ...

    async def release_savepoint(self, name: str) -> None: ...

    async def rollback_to_savepoint(self, name: str) -> None: ...

    async def fetch_all(self, query: Query, args: Args) -> list[Row]: ...

    async def fetch_one(self, query: Query, args: Args) -> Row | None: ...

    async def fetch_value(self, query: Query, args: Args) -> Any: ...

    async def execute(self, query: Query, args: Args) -> int:
        """Run a statement; return the number of rows it affected (matched, on MySQL too)."""
        ...

    async def execute_many(self, query: Query, args: Sequence[Args]) -> int: ...

    def stream(self, query: Query, args: Args, batch_size: int) -> AsyncGenerator[list[Row], None]:
        """The result in batches of at most ``batch_size`` rows, read from the server as
        they are consumed (PostgreSQL: a cursor, which needs an open transaction; MySQL:
        an unbuffered result; SQLite: ``fetchmany``), so memory stays bounded."""
        ...

    async def ping(self) -> None:
        """One round trip that proves the connection works."""
        ...

    async def server_version(self) -> str: ...

    async def explain(self, query: Query, args: Args) -> list[str]:
        """The database's plan for the statement, one text line per plan row."""
        ...


class Driver(Protocol):
    """Opens connections for one URL; one instance per :class:`~rawrepo.Database`."""

    dialect: Dialect
    url: DatabaseURL

    async def connect(self, timeout: float) -> Connection:
        """Open a configured connection, or raise ConnectionFailed within ``timeout`` s."""
        ...

    async def create_database(self, name: str) -> None:
        """Create database ``name`` on the server (SQLite: nothing to do)."""
        ...

    async def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists (SQLite: delete the file)."""
        ...

    async def describe(
        self, queries: Sequence[tuple[Query, Args]]
    ) -> list[QueryDescription | DatabaseError]:
        """Each statement's result columns (and parameter types where the server says),
        found without changing data: prepared and described (PostgreSQL), or run inside
        a transaction that is always rolled back with the given placeholder arguments
        (MySQL, SQLite). Invalid SQL gives the translated error in its place."""
        ...


_DRIVERS: dict[str, str] = {
    "asyncpg": "rawrepo.drivers.postgresql:PostgresDriver",
    "aiomysql": "rawrepo.drivers.mysql:MySQLDriver",
    "asyncmy": "rawrepo.drivers.asyncmy:AsyncmyDriver",
    "aiosqlite": "rawrepo.drivers.sqlite:SQLiteDriver",
}

# what to install for a driver that is not a dependency of rawrepo itself
_PACKAGES = {"asyncmy": "'rawrepo[asyncmy]'"}


def load_driver(url: DatabaseURL, **options: Any) -> Driver:
    """Import the driver module for ``url`` lazily and build its driver."""
    target = _DRIVERS.get(url.driver)
    if target is None:  # pragma: no cover - parse_url admits only known drivers
        raise ConfigurationError(f"no driver for {url.scheme}://", variable="DATABASE_URL")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if (exc.name or "").startswith("rawrepo"):
            raise  # a bug in rawrepo itself, not a missing driver package
        raise ConfigurationError(
            f"the {url.driver} package is needed for {url.scheme}:// URLs: {exc}",
            variable="DATABASE_URL",
            hint=f"pip install {_PACKAGES.get(url.driver, url.driver)}",
        ) from exc
    driver: Driver = getattr(module, cls_name)(url, **options)
    return driver


class _Describing(Protocol):
    def is_closed(self) -> bool: ...

    async def close(self) -> None: ...

    async def describe_one(self, query: Query, args: Args) -> QueryDescription: ...


async def describe_each(
    connect: Callable[[], Awaitable[_Describing]], queries: Sequence[tuple[Query, Args]]
) -> list[QueryDescription | DatabaseError]:
    """Describe each query on one connection (a new one if an error closed it); an
    invalid query gives its error in its place."""
    conn = await connect()
    results: list[QueryDescription | DatabaseError] = []
    try:
        for query, args in queries:
            try:
                results.append(await conn.describe_one(query, args))
            except DatabaseError as exc:
                results.append(exc)
                if conn.is_closed():
                    await conn.close()
                    conn = await connect()
    finally:
        await conn.close()
    return results


def safe_identifier(name: str) -> str:
    """``name`` if it is letters, digits and ``_`` only (for admin DDL), else an error."""
    if not name or not name.replace("_", "").isalnum() or not name.isascii():
        raise ConfigurationError(f"database name {name!r} must be letters, digits and _")
    return name


_LEADING_COMMENTS = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.S)
_TARGET_TABLE = re.compile(
    r"(?:insert\s+(?:(?:low_priority|delayed|high_priority|ignore|or\s+\w+)\s+)*into"
    r"|replace\s+into|update\s+(?:(?:low_priority|ignore|only|or\s+\w+)\s+)*)"
    r"\s*(?:[`\"]?\w+[`\"]?\s*\.\s*)?[`\"]?(?P<table>\w+)",
    re.I,
)


def target_table(query: Query | None) -> str | None:
    """The table an INSERT, REPLACE or UPDATE statement writes to, else None.

    For constraint errors whose driver message does not name the table (MariaDB's
    duplicate key and NOT NULL errors, SQLite's foreign key and CHECK errors).
    """
    if query is None:
        return None
    start = _LEADING_COMMENTS.match(query.sql)
    found = _TARGET_TABLE.match(query.sql, start.end() if start else 0)
    return found.group("table") if found else None


def out_of_range(query: Query | None, items: Iterable[tuple[str, Any]]) -> DataError:
    """The DataError for a parameter value that cannot be bound: a datetime whose UTC
    time falls outside Python's years 1 to 9999 (``9999-12-31 23:00-05:00``), or an
    integer beyond 64 bits. ``items`` are the call's (name, value) pairs; the error
    names the first bad one, as :func:`name_parameter` does. Raised before anything
    is sent."""
    qname = query.name if query is not None else None
    for name, value in items:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            try:
                value.astimezone(utc)
            except OverflowError:
                why = f"{value.isoformat()} is outside years 1 to 9999 in UTC"
                return DataError(_about(name, query, f"out of range: {why}"), query=qname)
        elif isinstance(value, int) and not -(2**63) <= value < 2**63:
            why = "an integer beyond 64 bits"
            return DataError(_about(name, query, f"out of range: {why}"), query=qname)
    where = f" [query {qname}]" if qname else ""
    return DataError(f"a parameter value is out of range{where}", query=qname)


def _about(name: str, query: Query | None, message: str) -> str:
    if query is None:
        return f"parameter :{name}: {message}"
    return f"parameter :{name} of query {query.name} ({query.path}): {message}"


def check_bulk_range(query: Query, rows: Sequence[Args]) -> None:
    """Raise :func:`out_of_range` for a bulk call before any of its rows is sent, where
    the driver would encode (and send) the rows one by one."""
    for row in rows:
        for value in row.values() if isinstance(row, dict) else row:
            # only a datetime in year 1 or 9999 can leave the range when made UTC
            if isinstance(value, dt.datetime) and value.year in (1, 9999) and value.tzinfo:
                try:
                    value.astimezone(utc)
                except OverflowError:
                    items = (
                        row.items()
                        if isinstance(row, dict)
                        else zip(query.params, row, strict=True)
                    )
                    raise out_of_range(query, items) from None


_POSITION = re.compile(r"(?:query argument \$|binding parameter )(\d+)")


def name_parameter(message: str, query: Query | None) -> str:
    """A driver's message about a parameter it could not bind, which names it by
    position (asyncpg's ``query argument $2``, sqlite3's ``binding parameter 2``), led
    by its name and the query file: ``parameter :total of query orders.create
    (sql/orders/create.sql): ...``. Other messages are returned as they are."""
    found = _POSITION.search(message)
    if query is None or found is None or not 0 < int(found.group(1)) <= len(query.params):
        return message
    return _about(query.params[int(found.group(1)) - 1], query, message)


def to_utc_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC (what MySQL DATETIME stores); naive ones are UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(utc).replace(tzinfo=None)


def sqlite_timestamp(value: dt.datetime) -> str:
    """Fixed-width UTC text that sorts in time order: ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``."""
    if value.tzinfo is utc:
        return value.isoformat(sep=" ", timespec="microseconds")
    if value.tzinfo is None:
        value = value.replace(tzinfo=utc)
    return value.astimezone(utc).isoformat(sep=" ", timespec="microseconds")
