"""The driver contract: every driver module offers the same small method set.

A :class:`Driver` makes connections for one database URL; a
:class:`Connection` runs loaded :class:`~rawrepo.queries.Query` objects with
arguments already bound by :meth:`Query.bind`. Driver errors never leave a
driver module: they are translated into :mod:`rawrepo.errors` at this seam.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Sequence
from typing import Any, Protocol

from rawrepo.config import DatabaseURL, Dialect
from rawrepo.errors import ConfigurationError
from rawrepo.queries import Query

__all__ = ["Args", "Connection", "Driver", "Row", "load_driver", "safe_identifier", "utc"]

Row = dict[str, Any]
Args = tuple[Any, ...] | dict[str, Any]
utc = dt.UTC


class Connection(Protocol):
    """One open connection to the server, used by one session at a time."""

    created_at: float
    """``time.monotonic()`` when the connection was opened (for pool recycling)."""

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

    async def commit(self) -> None: ...

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

    async def ping(self) -> None:
        """One round trip that proves the connection works."""
        ...

    async def server_version(self) -> str: ...


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


_DRIVERS: dict[str, str] = {
    "asyncpg": "rawrepo.drivers.postgresql:PostgresDriver",
    "aiomysql": "rawrepo.drivers.mysql:MySQLDriver",
    "aiosqlite": "rawrepo.drivers.sqlite:SQLiteDriver",
}


def load_driver(url: DatabaseURL, **options: Any) -> Driver:
    """Import the driver module for ``url`` lazily and build its driver."""
    target = _DRIVERS.get(url.driver)
    if target is None:  # pragma: no cover - parse_url admits only known drivers
        raise ConfigurationError(f"no driver for {url.scheme}://", variable="DATABASE_URL")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the {url.driver} package is needed for {url.scheme}:// URLs: {exc}",
            variable="DATABASE_URL",
            hint=f"pip install {url.driver}",
        ) from exc
    driver: Driver = getattr(module, cls_name)(url, **options)
    return driver


def safe_identifier(name: str) -> str:
    """``name`` if it is letters, digits and ``_`` only (for admin DDL), else an error."""
    if not name or not name.replace("_", "").isalnum() or not name.isascii():
        raise ConfigurationError(f"database name {name!r} must be letters, digits and _")
    return name


def to_utc_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC (what MySQL DATETIME stores); naive ones are UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(utc).replace(tzinfo=None)


def sqlite_timestamp(value: dt.datetime) -> str:
    """Fixed-width UTC text that sorts in time order: ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=utc)
    return value.astimezone(utc).isoformat(sep=" ", timespec="microseconds")
