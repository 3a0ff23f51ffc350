"""MySQL and MariaDB through asyncmy: ``mysql+asyncmy://`` (or ``mariadb+asyncmy://``).

An optional driver (``pip install "rawrepo[asyncmy]"``); aiomysql stays the default
for ``mysql://``. asyncmy is PyMySQL's protocol rewritten in Cython: the same API,
so this driver is the aiomysql one (:mod:`rawrepo.drivers.mysql`) with asyncmy's
connect, exceptions and unbuffered cursor. Each connection is set up the same way:
strict ``sql_mode``, UTC, utf8mb4, READ COMMITTED and ``CLIENT.FOUND_ROWS``; DATETIME
values come back timezone-aware.

Measured on MariaDB 10.11 with ``python -m benchmarks``: see the README's
performance table (``mysql+asyncmy`` column).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import asyncmy
import asyncmy.errors
from asyncmy.converters import conversions, escape_str
from asyncmy.cursors import Cursor, SSCursor

from rawrepo.drivers.mysql import MySQLConnection, MySQLDriver, conversions_for

__all__ = ["AsyncmyConnection", "AsyncmyDriver"]

_CONV = conversions_for(conversions, escape_str)


class _QuietCursor(Cursor):
    """For administrative statements: no SHOW WARNINGS round trip, nothing logged."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


class AsyncmyConnection(MySQLConnection):
    """One asyncmy connection with rawrepo's method set."""

    __slots__ = ()
    _errors: ClassVar[ModuleType] = asyncmy.errors
    _stream_cursor: ClassVar[type] = SSCursor

    def is_closed(self) -> bool:
        conn = self._conn
        return not conn.connected or bool(getattr(conn, "_stream_broken", False))


class AsyncmyDriver(MySQLDriver):
    """Connections to one MySQL/MariaDB database through asyncmy."""

    connection_class = AsyncmyConnection
    _errors: ClassVar[ModuleType] = asyncmy.errors
    _database_key = "database"
    _quiet_cursor: ClassVar[type] = _QuietCursor

    def _driver_kwargs(self) -> dict[str, Any]:
        # The plain Cursor: asyncmy takes a faster path for it than for any subclass, and
        # it asks the server for warnings only when a statement reported some.
        return {"conv": _CONV, "cursor_cls": Cursor}

    async def _dial(self, **kwargs: Any) -> Any:
        return await asyncmy.connect(**kwargs)
