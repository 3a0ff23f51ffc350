"""The driver-only stacks: ``raw`` (the floor) and ``raw_validated`` (raw + pydantic).

``raw`` is what a careful user writes by hand: the driver's own pool (asyncpg,
aiomysql, asyncmy) or a small queue of aiosqlite connections, one pooled
connection per operation, single statements in autocommit, an explicit
transaction only where an operation writes many rows. It returns the driver's records or tuples.
Each driver keeps its defaults, as the issue defines the floor ("the driver
alone"): asyncpg's pool resets every connection on release (a round trip that
rawrepo's own pool does not need, since every session ends its transaction).

It runs rawrepo's own SQL text (loaded from the bundled ``.sql`` files, less
their leading ``--`` description lines), so a ratio between ``raw`` and
``rawrepo`` is the layer's cost, not a different query. The parameter order of
every statement is checked when the stack opens.

``raw_validated`` adds what a careful hand-written layer does next: rows to
dicts and one ``TypeAdapter(list[Model]).validate_python(rows)`` call into
rawrepo's models (``Model.model_validate`` for a single row).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import aiomysql
import aiosqlite
import asyncpg
from pydantic import TypeAdapter

from benchmarks.stacks.base import Stack
from rawrepo.config import Dialect, parse_url
from rawrepo.models import Task, TaskCreate, User, UserWithTaskCount, UserWithTasks
from rawrepo.queries import BUNDLED_SQL_DIR, Query, load_queries

__all__ = [
    "SQLITE_PRAGMAS",
    "RawStack",
    "RawValidatedStack",
    "mysql_session",
    "raw_stack",
    "unicode_lower",
]

UTC = dt.UTC
USER_COLS = ("id", "username", "email", "created_at", "updated_at")
TASK_COLS = (
    "id",
    "user_id",
    "title",
    "description",
    "status",
    "created_at",
    "updated_at",
    "completed_at",
    "idempotency_key",
)
# What a task write sends: the columns read back, and the case-folded title the search
# matches (str.casefold, as rawrepo's TaskRepository folds it).
TASK_WRITE_COLS = (*TASK_COLS[:3], "title_folded", *TASK_COLS[3:])
COUNT_COLS = (*USER_COLS, "task_count")

# The session settings rawrepo's MySQL driver uses; every MySQL stack gets the same.
# MariaDB before 11.1 and MySQL 5.7 call the isolation variable tx_isolation.
_MYSQL_SESSION = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO',"
    " time_zone = '+00:00', {isolation} = 'READ-COMMITTED'"
)
_mysql_session: dict[str, str] = {}


async def mysql_session(url: str) -> str:
    """The one-statement ``init_command`` that sets up a MySQL connection like rawrepo's."""
    u = parse_url(url)
    key = f"{u.host}:{u.port}"
    if key not in _mysql_session:
        conn = await aiomysql.connect(
            host=u.host, port=u.port, user=u.username or "root", password=u.password or ""
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute("SHOW VARIABLES LIKE 'transaction_isolation'")
                found = await cur.fetchall()
        finally:
            conn.close()
        name = "transaction_isolation" if found else "tx_isolation"
        _mysql_session[key] = _MYSQL_SESSION.format(isolation=name)
    return _mysql_session[key]


# The pragmas rawrepo's SQLite driver uses; every SQLite stack gets the same.
SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout = 30000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
)


def unicode_lower(value: Any) -> Any:
    """SQLite ``lower()`` with Unicode case folding: the same function rawrepo's SQLite
    driver registers in place of the ASCII-only built-in, so every stack's title
    search means the same thing (and costs the same) on SQLite."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).lower()


# Each statement's parameters, in the order the raw code passes them (asyncpg: $1, $2...).
_PARAMS: dict[str, tuple[str, ...]] = {
    "users.create": ("id", "username", "email", "created_at", "updated_at"),
    "users.get_by_id": ("id",),
    "tasks.get_by_user": ("user_id", "limit", "offset"),
    "tasks.get_all_by_user": ("user_id",),
    "tasks.search_by_title": ("pattern", "limit", "offset"),
    "users.with_task_counts": ("limit", "offset"),
    "tasks.bulk_create": TASK_WRITE_COLS,
}
_PG_BULK = (
    "ids",
    "user_ids",
    "titles",
    "title_foldeds",
    "descriptions",
    "statuses",
    "created_ats",
    "updated_ats",
    "completed_ats",
    "idempotency_keys",
)
SEARCH_LIMIT = 100


def new_user(username: str, email: str) -> dict[str, Any]:
    """A user row as the application makes it: a uuid4 id, now in UTC."""
    now = dt.datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "username": username,
        "email": email,
        "created_at": now,
        "updated_at": now,
    }


def new_tasks(tasks: Sequence[TaskCreate]) -> list[dict[str, Any]]:
    """Task rows for ``tasks``: uuid4 ids, one timestamp for the batch."""
    now = dt.datetime.now(UTC)
    return [
        {
            "id": uuid.uuid4(),
            "user_id": t.user_id,
            "title": t.title,
            "title_folded": t.title.casefold(),
            "description": t.description,
            "status": t.status.value,
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
            "idempotency_key": None,
        }
        for t in tasks
    ]


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE's special characters escaped by ``\\``: the pattern rawrepo's
    title search matches against ``title_folded``, so ``term`` is case-folded first."""
    term = term.casefold()
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def load_sql(dialect: Dialect) -> dict[str, str]:
    """rawrepo's SQL text for every statement the raw stacks run, parameters checked."""
    queries = load_queries(BUNDLED_SQL_DIR, dialect)
    out: dict[str, str] = {}
    for name, params in _PARAMS.items():
        query: Query = queries[name]
        if dialect == "postgresql" and name == "tasks.bulk_create":
            params = _PG_BULK
        if set(query.params) != set(params) or (dialect == "postgresql" and query.params != params):
            raise RuntimeError(
                f"{query.path} now takes {query.params}; the raw stack passes {params}:"
                " update benchmarks/stacks/raw.py"
            )
        out[name] = strip_leading_comments(query.sql)
    return out


def strip_leading_comments(sql: str) -> str:
    """The statement without its leading ``--`` description lines. A hand-written
    statement has none, and they matter: aiomysql's ``executemany`` batches rows into
    multi-row INSERTs only when the text starts with ``INSERT``."""
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


class RawStack(Stack):
    """Common parts; one subclass per driver."""

    name = "raw"

    def __init__(self, url: str, dialect: Dialect, pool_size: int) -> None:
        super().__init__(url, dialect, pool_size)
        self.sql = load_sql(dialect)

    async def server_version(self) -> str:
        raise NotImplementedError

    async def admin(self, sql: str) -> None:
        """Run one statement outside any benchmark (cleanup, ANALYZE, DROP INDEX)."""
        raise NotImplementedError

    async def seed_users(self, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def seed_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def insert_user(self, row: dict[str, Any]) -> None:
        """Insert one user row of Python values (autocommit: its own transaction)."""
        raise NotImplementedError

    async def insert_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert task rows of Python values in one transaction."""
        raise NotImplementedError

    async def create_user(self, username: str, email: str) -> Any:
        row = new_user(username, email)
        await self.insert_user(row)
        return row["id"]

    async def bulk_create_tasks(self, tasks: Sequence[TaskCreate]) -> Any:
        rows = new_tasks(tasks)
        await self.insert_tasks(rows)
        return len(rows)


# --------------------------------------------------------------------------- PostgreSQL


class RawPostgres(RawStack):
    pool: asyncpg.Pool

    async def open(self) -> None:
        u = parse_url(self.url)
        self.pool = await asyncpg.create_pool(
            host=u.host,
            port=u.port,
            user=u.username or "postgres",
            password=u.password,
            database=u.database,
            min_size=self.pool_size,
            max_size=self.pool_size,
            server_settings={"timezone": "UTC"},
        )

    async def close(self) -> None:
        await self.pool.close()

    async def server_version(self) -> str:
        async with self.pool.acquire() as conn:
            return f"PostgreSQL {conn.get_settings().server_version}"

    async def admin(self, sql: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(sql)

    async def seed_users(self, rows: Sequence[dict[str, Any]]) -> None:
        async with self.pool.acquire() as conn:
            await conn.copy_records_to_table(
                "users", records=[tuple(r[c] for c in USER_COLS) for r in rows], columns=USER_COLS
            )

    async def seed_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        async with self.pool.acquire() as conn:
            await conn.copy_records_to_table(
                "tasks",
                records=[tuple(r[c] for c in TASK_WRITE_COLS) for r in rows],
                columns=TASK_WRITE_COLS,
            )
            await conn.execute("ANALYZE users; ANALYZE tasks")

    async def insert_user(self, row: dict[str, Any]) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                self.sql["users.create"],
                row["id"],
                row["username"],
                row["email"],
                row["created_at"],
                row["updated_at"],
            )

    async def insert_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        columns = [[r[c] for r in rows] for c in TASK_WRITE_COLS]
        async with self.pool.acquire() as conn:
            await conn.execute(self.sql["tasks.bulk_create"], *columns)

    async def get_user(self, user_id: uuid.UUID) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(self.sql["users.get_by_id"], user_id)

    async def list_tasks(self, user_id: uuid.UUID, limit: int) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetch(self.sql["tasks.get_by_user"], user_id, limit, 0)

    async def search_titles(self, term: str) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetch(
                self.sql["tasks.search_by_title"], like_pattern(term), SEARCH_LIMIT, 0
            )

    async def get_user_with_tasks(self, user_id: uuid.UUID) -> Any:
        async with self.pool.acquire() as conn:
            user = await conn.fetchrow(self.sql["users.get_by_id"], user_id)
            if user is None:
                return None
            return user, await conn.fetch(self.sql["tasks.get_all_by_user"], user_id)

    async def users_with_task_counts(self, limit: int) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetch(self.sql["users.with_task_counts"], limit, 0)


# --------------------------------------------------------------------------- MySQL


class _NamedParamsStack(RawStack):
    """The stacks whose statements take named parameters (aiomysql, asyncmy, aiosqlite):
    the reads that are one ``_fetch`` of all rows are the same for them."""

    async def _fetch(self, sql: str, args: dict[str, Any]) -> Any:
        """All rows of ``sql`` on one pooled connection."""
        raise NotImplementedError

    async def list_tasks(self, user_id: uuid.UUID, limit: int) -> Any:
        args = {"user_id": str(user_id), "limit": limit, "offset": 0}
        return await self._fetch(self.sql["tasks.get_by_user"], args)

    async def search_titles(self, term: str) -> Any:
        args = {"pattern": like_pattern(term), "limit": SEARCH_LIMIT, "offset": 0}
        return await self._fetch(self.sql["tasks.search_by_title"], args)

    async def users_with_task_counts(self, limit: int) -> Any:
        return await self._fetch(self.sql["users.with_task_counts"], {"limit": limit, "offset": 0})


class RawMySQL(_NamedParamsStack):
    """aiomysql's pool. asyncmy copies aiomysql's API (``create_pool``, ``acquire``,
    ``cursor()`` as an async context manager, ``begin``/``commit``), so
    :class:`RawAsyncmy` only names another module."""

    driver: ClassVar[str] = "aiomysql"
    database_arg: ClassVar[str] = "db"
    """The database keyword of ``connect``/``create_pool``: aiomysql's ``db``."""
    pool: Any
    """An ``aiomysql.Pool`` or an ``asyncmy.Pool``."""

    async def open(self) -> None:
        # Imported here, so a missing optional driver fails only its own backend.
        module = importlib.import_module(self.driver)
        u = parse_url(self.url)
        self.pool = await module.create_pool(
            host=u.host,
            port=u.port,
            user=u.username or "root",
            password=u.password or "",
            charset="utf8mb4",
            autocommit=True,
            init_command=await mysql_session(self.url),
            minsize=self.pool_size,
            maxsize=self.pool_size,
            **{self.database_arg: u.database},
        )

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()

    async def server_version(self) -> str:
        async with self.pool.acquire() as conn:
            info = str(conn.get_server_info())
        if "mariadb" in info.lower():
            return "MariaDB " + info.removeprefix("5.5.5-").split("-")[0]
        return "MySQL " + info.split("-")[0]

    async def admin(self, sql: str) -> None:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql)

    async def seed_users(self, rows: Sequence[dict[str, Any]]) -> None:
        args = [_mysql_row(r) for r in rows]
        async with self.pool.acquire() as conn:
            await conn.begin()
            async with conn.cursor() as cur:
                await cur.executemany(self.sql["users.create"], args)
            await conn.commit()

    async def seed_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 10_000):
            await self.insert_tasks(rows[start : start + 10_000])
        await self.admin("ANALYZE TABLE users, tasks")

    async def _fetch(self, sql: str, args: dict[str, Any]) -> Any:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, args)
            return await cur.fetchall()

    async def insert_user(self, row: dict[str, Any]) -> None:
        args = _mysql_row(row)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(self.sql["users.create"], args)

    async def insert_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        args = [_mysql_row(r) for r in rows]
        async with self.pool.acquire() as conn:
            await conn.begin()
            async with conn.cursor() as cur:
                await cur.executemany(self.sql["tasks.bulk_create"], args)
            await conn.commit()

    async def get_user(self, user_id: uuid.UUID) -> Any:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(self.sql["users.get_by_id"], {"id": str(user_id)})
            return await cur.fetchone()

    async def get_user_with_tasks(self, user_id: uuid.UUID) -> Any:
        uid = str(user_id)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(self.sql["users.get_by_id"], {"id": uid})
            user = await cur.fetchone()
            if user is None:
                return None
            await cur.execute(self.sql["tasks.get_all_by_user"], {"user_id": uid})
            return user, await cur.fetchall()


class RawAsyncmy(RawMySQL):
    """asyncmy's pool, the same code as aiomysql's. Its plain ``conn.cursor()`` is
    kept on purpose: asyncmy takes its fast path only for the ``Cursor`` class itself."""

    driver = "asyncmy"
    database_arg = "database"


_ID_COLUMNS = ("id", "user_id")
_TIME_COLUMNS = ("created_at", "updated_at", "completed_at")


def _adapted(r: dict[str, Any], to_time: Callable[[Any], Any]) -> dict[str, Any]:
    """A seed row (user or task) in the form the driver stores: ids as text,
    timestamps through ``to_time``."""
    out = dict(r)
    for key in _ID_COLUMNS:
        if key in out:
            out[key] = str(out[key])
    for key in _TIME_COLUMNS:
        if key in out:
            out[key] = to_time(out[key])
    return out


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _mysql_row(r: dict[str, Any]) -> dict[str, Any]:
    return _adapted(r, _naive)


# --------------------------------------------------------------------------- SQLite


def _ts(value: dt.datetime | None) -> str | None:
    return (
        None if value is None else value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")
    )


def _sqlite_row(r: dict[str, Any]) -> dict[str, Any]:
    return _adapted(r, _ts)


class RawSQLite(_NamedParamsStack):
    """aiosqlite has no pool: ``pool_size`` connections behind a semaphore stand in for one."""

    conns: list[aiosqlite.Connection]
    idle: list[aiosqlite.Connection]
    slots: asyncio.Semaphore

    async def open(self) -> None:
        path = parse_url(self.url).database or ":memory:"
        self.conns = []
        self.idle = []
        self.slots = asyncio.Semaphore(self.pool_size)
        for _ in range(self.pool_size):
            conn = aiosqlite.connect(path, isolation_level=None)
            conn._thread.daemon = True
            await conn
            for pragma in SQLITE_PRAGMAS:
                await conn.execute(pragma)
            await conn.create_function("lower", 1, unicode_lower, deterministic=True)
            self.conns.append(conn)
            self.idle.append(conn)

    async def _acquire(self) -> aiosqlite.Connection:
        # A semaphore hands connections out first come, first served (an asyncio.Queue
        # lets a releasing task take its connection straight back, starving waiters).
        await self.slots.acquire()
        return self.idle.pop()

    def _release(self, conn: aiosqlite.Connection) -> None:
        self.idle.append(conn)
        self.slots.release()

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()

    async def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    async def admin(self, sql: str) -> None:
        conn = await self._acquire()
        try:
            await conn.execute(sql)
        finally:
            self._release(conn)

    async def seed_users(self, rows: Sequence[dict[str, Any]]) -> None:
        args = [_sqlite_row(r) for r in rows]
        conn = await self._acquire()
        try:
            await conn.execute("BEGIN IMMEDIATE")
            await conn.executemany(self.sql["users.create"], args)
            await conn.execute("COMMIT")
        finally:
            self._release(conn)

    async def seed_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.insert_tasks(rows)
        await self.admin("ANALYZE")

    async def _fetch(self, sql: str, args: dict[str, Any]) -> Any:
        conn = await self._acquire()
        try:
            return await conn.execute_fetchall(sql, args)
        finally:
            self._release(conn)

    async def insert_user(self, row: dict[str, Any]) -> None:
        args = _sqlite_row(row)
        conn = await self._acquire()
        try:
            await conn.execute(self.sql["users.create"], args)
        finally:
            self._release(conn)

    async def insert_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        args = [_sqlite_row(r) for r in rows]
        conn = await self._acquire()
        try:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                await conn.executemany(self.sql["tasks.bulk_create"], args)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
        finally:
            self._release(conn)

    async def get_user(self, user_id: uuid.UUID) -> Any:
        rows = await self._fetch(self.sql["users.get_by_id"], {"id": str(user_id)})
        return rows[0] if rows else None

    async def get_user_with_tasks(self, user_id: uuid.UUID) -> Any:
        uid = str(user_id)
        conn = await self._acquire()
        try:
            users = await conn.execute_fetchall(self.sql["users.get_by_id"], {"id": uid})
            if not users:
                return None
            tasks = await conn.execute_fetchall(self.sql["tasks.get_all_by_user"], {"user_id": uid})
            return next(iter(users)), tasks
        finally:
            self._release(conn)


# By rawrepo's driver name for the URL's scheme (``mysql+asyncmy://`` -> asyncmy).
_RAW: dict[str, type[RawStack]] = {
    "asyncpg": RawPostgres,
    "aiomysql": RawMySQL,
    "asyncmy": RawAsyncmy,
    "aiosqlite": RawSQLite,
}


def raw_stack(url: str, dialect: Dialect, pool_size: int) -> RawStack:
    """The ``raw`` stack for the driver of ``url`` (a ``dialect`` database)."""
    return _RAW[parse_url(url).driver](url, dialect, pool_size)


# --------------------------------------------------------------------------- raw_validated

_USERS = TypeAdapter(list[User])
_TASKS = TypeAdapter(list[Task])
_COUNTS = TypeAdapter(list[UserWithTaskCount])


def _dicts(rows: Iterable[Any], cols: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _record_dicts(rows: Iterable[Any], cols: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


class RawValidatedStack(Stack):
    """``raw`` plus pydantic validation of every result into rawrepo's models."""

    name = "raw_validated"

    def __init__(self, url: str, dialect: Dialect, pool_size: int) -> None:
        super().__init__(url, dialect, pool_size)
        self.raw = raw_stack(url, dialect, pool_size)
        self.dicts = _record_dicts if dialect == "postgresql" else _dicts

    async def open(self) -> None:
        await self.raw.open()

    async def close(self) -> None:
        await self.raw.close()

    async def create_user(self, username: str, email: str) -> User:
        row = new_user(username, email)
        await self.raw.insert_user(row)
        return User.model_validate(row)

    async def get_user(self, user_id: uuid.UUID) -> User | None:
        row = await self.raw.get_user(user_id)
        if row is None:
            return None
        return User.model_validate(self.dicts((row,), USER_COLS)[0])

    async def list_tasks(self, user_id: uuid.UUID, limit: int) -> list[Task]:
        return _TASKS.validate_python(
            self.dicts(await self.raw.list_tasks(user_id, limit), TASK_COLS)
        )

    async def bulk_create_tasks(self, tasks: Sequence[TaskCreate]) -> list[Task]:
        rows = new_tasks(tasks)
        await self.raw.insert_tasks(rows)
        return _TASKS.validate_python(rows)

    async def search_titles(self, term: str) -> list[Task]:
        return _TASKS.validate_python(self.dicts(await self.raw.search_titles(term), TASK_COLS))

    async def get_user_with_tasks(self, user_id: uuid.UUID) -> UserWithTasks | None:
        found = await self.raw.get_user_with_tasks(user_id)
        if found is None:
            return None
        user, tasks = found
        row = self.dicts((user,), USER_COLS)[0]
        row["tasks"] = self.dicts(tasks, TASK_COLS)
        return UserWithTasks.model_validate(row)

    async def users_with_task_counts(self, limit: int) -> list[UserWithTaskCount]:
        rows = await self.raw.users_with_task_counts(limit)
        return _COUNTS.validate_python(self.dicts(rows, COUNT_COLS))
