"""PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import secrets
import time
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import asyncpg.exceptions as pgexc

from rawrepo.config import DatabaseURL, Dialect
from rawrepo.drivers.base import (
    Args,
    Column,
    QueryDescription,
    Row,
    TransactionLoss,
    check_bulk_range,
    name_parameter,
    safe_identifier,
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
    TransactionRolledBackError,
    TransientError,
    UniqueViolation,
)
from rawrepo.hosts import TARGET_SESSION_ATTRS, HostList, NotTargetServer, connect_first, hostport
from rawrepo.queries import Query, json_default

__all__ = ["PostgresConnection", "PostgresDriver", "translate_error"]

_BY_SQLSTATE: dict[str, type[DatabaseError]] = {
    "23505": UniqueViolation,
    "23503": ForeignKeyViolation,
    "23502": NotNullViolation,
    "23514": CheckViolation,
    "40001": SerializationFailure,
    "40P01": DeadlockDetected,
    "55P03": TransientError,  # lock_not_available
    "57P01": ConnectionLost,  # admin_shutdown (pg_terminate_backend, a server stopping)
    "57P02": ConnectionLost,  # crash_shutdown
    "57P03": ConnectionLost,  # cannot_connect_now (starting up, or a standby not ready)
    # read_only_sql_transaction: a write reached a server that is no longer (or not yet)
    # the primary; for writes it is as good as gone, and the write was not applied
    "25006": ConnectionLost,
}
_URL_OPTIONS = {
    "sslmode",
    "ssl",
    "statement_cache_size",
    "application_name",
    "connect_timeout",
    "target_session_attrs",
}
_POOLER_HINT = (
    "behind pgbouncer (or another pooler) in transaction mode, turn asyncpg's statement"
    " cache off: add ?statement_cache_size=0 to the URL (see docs/scaling.md)"
)


class _UniquelyNamedStatements(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg's connection with statement names that no other connection uses.

    asyncpg names cached statements ``__asyncpg_stmt_<n>__`` from a counter that starts
    at 1 in every process. Behind a transaction-mode pooler two processes' clients share
    server connections, so one's ``__asyncpg_stmt_3__`` may run the other's statement of
    that name: a silently wrong result. With a random part per connection a statement
    that lands on another server connection is simply missing there, a loud error (see
    :func:`translate_error`); the documented pooler URL turns the cache off anyway.
    """

    __slots__ = ("_rawrepo_names",)
    _rawrepo_names: tuple[str, Iterator[int]]

    def _get_unique_id(self, prefix: str) -> str:
        try:
            tag, counter = self._rawrepo_names
        except AttributeError:
            tag, counter = self._rawrepo_names = (secrets.token_hex(6), itertools.count(1))
        return f"__asyncpg_{prefix}_{tag}_{next(counter):x}__"


def _pooler_symptom(exc: pgexc.PostgresError, qname: str | None) -> DatabaseError | None:
    """The clear error for a prepared statement that vanished between its PREPARE and
    its use: the server connection changed under the client (a transaction-mode pooler)."""
    sqlstate = getattr(exc, "sqlstate", None)
    message = getattr(exc, "message", None) or str(exc)
    if sqlstate not in ("26000", "42P05") or '"__asyncpg_' not in message:
        return None
    where = f" [query {qname}]" if qname else ""
    return DatabaseError(
        f"{message}: the server connection changed between preparing and running the"
        f" statement, so a connection pooler in transaction mode is in front of the"
        f" server{where}",
        sqlstate=sqlstate,
        query=qname,
        hint=_POOLER_HINT,
    )


def translate_error(exc: BaseException, query: Query | None = None) -> DatabaseError:
    """Map an asyncpg or socket exception to the rawrepo class for the same failure."""
    qname = query.name if query is not None else None
    where = f" [query {qname}]" if qname else ""
    if isinstance(exc, pgexc.DataError) and getattr(exc, "severity", None) is None:
        # A bad argument type or value, found by asyncpg before anything was sent (it
        # says SQLSTATE 22000, but the server saw nothing and the transaction lives on).
        return DataError(f"{name_parameter(str(exc), query)}{where}", query=qname)
    if isinstance(exc, pgexc.PostgresError):
        pooled = _pooler_symptom(exc, qname)
        if pooled is not None:
            return pooled
        return server_error(
            {
                "sqlstate": getattr(exc, "sqlstate", None),
                "message": name_parameter(getattr(exc, "message", None) or str(exc), query),
                "detail": getattr(exc, "detail", None),
                "hint": getattr(exc, "hint", None),
                "position": getattr(exc, "position", None),
                "constraint": getattr(exc, "constraint_name", None),
                "table": getattr(exc, "table_name", None),
                "column": getattr(exc, "column_name", None),
            },
            qname,
        )
    if isinstance(
        exc,
        pgexc.ConnectionDoesNotExistError
        | pgexc.InterfaceError
        # the protocol got out of step, e.g. the server ended the connection while it was
        # idle ("cannot switch to state ...; another operation is in progress"): the
        # connection is unusable, as if lost
        | pgexc.InternalClientError
        | OSError
        | asyncio.TimeoutError
        | EOFError,
    ):
        text = str(exc) or type(exc).__name__
        return ConnectionLost(f"PostgreSQL connection failed: {text}{where}", query=qname)
    return DatabaseError(f"{type(exc).__name__}: {exc}{where}", query=qname)


def server_error(fields: Mapping[str, Any], qname: str | None) -> DatabaseError:
    """The rawrepo error for a server error report (SQLSTATE, message, detail, ...)."""
    sqlstate = str(fields.get("sqlstate") or "")
    where = f" [query {qname}]" if qname else ""
    detail = fields.get("detail")
    text = f"{fields.get('message')}{'; ' + str(detail) if detail else ''}{where}"
    cls = _BY_SQLSTATE.get(sqlstate)
    if cls is None:
        if sqlstate.startswith("23"):
            cls = IntegrityError
        elif sqlstate.startswith("08"):
            cls = ConnectionLost
        elif sqlstate.startswith("22"):
            cls = DataError
        else:
            cls = DatabaseError
    hint = fields.get("hint")
    if issubclass(cls, IntegrityError):
        return cls(
            text,
            constraint=fields.get("constraint"),
            table=fields.get("table"),
            column=fields.get("column"),
            sqlstate=sqlstate,
            query=qname,
            hint=hint,
        )
    position = fields.get("position")
    return cls(
        text,
        sqlstate=sqlstate,
        query=qname,
        position=int(position) if position and str(position).isdigit() else None,
        hint=hint,
    )


async def _not_target(conn: asyncpg.Connection, target: str) -> str | None:
    """Why the server of ``conn`` is not of the ``target_session_attrs`` kind, or None."""
    if target == "any":
        return None
    standby, read_only = await conn.fetchrow(
        "SELECT pg_catalog.pg_is_in_recovery(),"
        " pg_catalog.current_setting('transaction_read_only') = 'on'"
    )
    if target == "read-write" and read_only:
        return "the server is read-only" + (" (a standby)" if standby else "")
    if target == "read-only" and not read_only:
        return "the server is not read-only"
    if target == "primary" and standby:
        return "the server is a standby"
    if target == "standby" and not standby:
        return "the server is not a standby"
    return None


def _rows_affected(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


_TIMESTAMPTZ = 1184  # the type oid of timestamptz


def _has_naive(args: Args) -> bool:
    # a plain loop: any() over a generator costs more, and this runs on every call
    for value in args:  # noqa: SIM110
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return True
    return False


class PostgresConnection:
    """One asyncpg connection with rawrepo's method set.

    A naive datetime bound to a ``timestamptz`` parameter is taken as UTC, as on the
    other backends (asyncpg would take it as the process's local time); a naive one for
    a ``timestamp`` parameter stays naive. Which parameters are ``timestamptz`` is asked
    of the server once per statement, and only when a naive datetime is passed.
    """

    __slots__ = ("_conn", "_tz_params", "_unnamed", "created_at", "host")

    def __init__(
        self,
        conn: asyncpg.Connection,
        tz_params: dict[str, frozenset[int]] | None = None,
        *,
        unnamed: bool = False,
        host: str = "",
    ) -> None:
        self._conn = conn
        self.host = host
        self._tz_params = {} if tz_params is None else tz_params
        # statement cache off (behind a pooler): no named statement may outlive its
        # transaction on the server connection
        self._unnamed = unnamed
        self.created_at = time.monotonic()

    async def _naive_as_utc(self, query: Query, args: Args) -> tuple[Any, ...]:
        """``args`` with each naive datetime of a timestamptz parameter made UTC."""
        positions = self._tz_params.get(query.sql)
        if positions is None:
            statement = await self._conn.prepare(query.sql)
            positions = frozenset(
                i for i, t in enumerate(statement.get_parameters()) if t.oid == _TIMESTAMPTZ
            )
            self._tz_params[query.sql] = positions
        return tuple(
            value.replace(tzinfo=utc)
            if i in positions and isinstance(value, dt.datetime) and value.tzinfo is None
            else value
            for i, value in enumerate(args)
        )

    @property
    def raw(self) -> asyncpg.Connection:
        """The underlying asyncpg connection (for tests and fast paths)."""
        return self._conn

    def is_closed(self) -> bool:
        return bool(self._conn.is_closed())

    async def close(self) -> None:
        try:
            await self._conn.close(timeout=2)
        except BaseException:
            self._conn.terminate()

    async def abort(self) -> bool:
        # asyncpg sends the server a cancel request when a query's waiter is cancelled;
        # wait for it (so the server-side query stops) before closing the socket.
        protocol = getattr(self._conn, "_protocol", None)
        try:
            if protocol is not None and protocol._is_cancelling():
                async with asyncio.timeout(2):
                    await protocol._wait_for_cancellation()
        except BaseException:
            pass
        self._conn.terminate()
        return False

    async def _plumbing(self, sql: str) -> None:
        try:
            await self._conn.execute(sql)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def begin(self) -> None:
        await self._plumbing("BEGIN")

    async def commit(self) -> None:
        try:
            status = await self._conn.execute("COMMIT")
        except Exception as exc:
            raise translate_error(exc) from exc
        if status == "ROLLBACK":
            # COMMIT of a transaction that an error aborted: PostgreSQL rolls it back and
            # reports success, with this tag.
            raise TransactionRolledBackError(
                "COMMIT did not commit: PostgreSQL had aborted the transaction after an"
                " error in it and rolled it back, so none of its writes were stored",
                sqlstate="25P02",
            )

    async def transaction_lost(self, error: DatabaseError) -> TransactionLoss | None:
        # Any error the server reports inside a transaction block aborts the block; the
        # errors asyncpg raises before sending (bad argument types) carry no SQLSTATE.
        if error.sqlstate and self._conn.is_in_transaction():
            return "aborted"
        return None

    async def rollback(self) -> None:
        await self._plumbing("ROLLBACK")

    async def savepoint(self, name: str) -> None:
        await self._plumbing(f"SAVEPOINT {name}")

    async def release_savepoint(self, name: str) -> None:
        await self._plumbing(f"RELEASE SAVEPOINT {name}")

    async def rollback_to_savepoint(self, name: str) -> None:
        await self._plumbing(f"ROLLBACK TO SAVEPOINT {name}")

    async def fetch_all(self, query: Query, args: Args) -> list[Row]:
        try:
            if _has_naive(args):
                args = await self._naive_as_utc(query, args)
            if query.custom_plan:
                # A statement prepared afresh is planned for these values (custom plan).
                statement = await self._conn.prepare(query.sql)
                records = await statement.fetch(*args)
            else:
                records = await self._conn.fetch(query.sql, *args)
        except Exception as exc:
            raise translate_error(exc, query) from exc
        return [dict(r) for r in records]

    async def fetch_one(self, query: Query, args: Args) -> Row | None:
        try:
            if _has_naive(args):
                args = await self._naive_as_utc(query, args)
            record = await self._conn.fetchrow(query.sql, *args)
        except Exception as exc:
            raise translate_error(exc, query) from exc
        return None if record is None else dict(record)

    async def fetch_value(self, query: Query, args: Args) -> Any:
        try:
            if _has_naive(args):
                args = await self._naive_as_utc(query, args)
            return await self._conn.fetchval(query.sql, *args)
        except Exception as exc:
            raise translate_error(exc, query) from exc

    async def stream(
        self, query: Query, args: Args, batch_size: int
    ) -> AsyncGenerator[list[Row], None]:
        try:
            if _has_naive(args):
                args = await self._naive_as_utc(query, args)
            if self._unnamed:  # asyncpg's cursor() always prepares a named statement
                cursor = await (await self._conn.prepare(query.sql)).cursor(*args)
            else:
                cursor = await self._conn.cursor(query.sql, *args)
        except Exception as exc:
            raise translate_error(exc, query) from exc
        while True:
            try:
                records = await cursor.fetch(batch_size)
            except Exception as exc:
                raise translate_error(exc, query) from exc
            if not records:
                return
            yield [dict(r) for r in records]

    async def execute(self, query: Query, args: Args) -> int:
        try:
            if _has_naive(args):
                args = await self._naive_as_utc(query, args)
            status: str = await self._conn.execute(query.sql, *args)
        except Exception as exc:
            raise translate_error(exc, query) from exc
        return _rows_affected(status)

    async def execute_many(self, query: Query, args: Sequence[Args]) -> int:
        if not args:
            return 0
        check_bulk_range(query, args)  # asyncpg sends rows as it encodes them
        try:
            if any(map(_has_naive, args)):
                args = [await self._naive_as_utc(query, one) for one in args]
            if _one_row_per_call(query):
                # Pipelined; each call inserts exactly one row or raises.
                await self._conn.executemany(query.sql, args)
                return len(args)
            stmt = await self._conn.prepare(query.sql)
            total = 0
            for one in args:
                await stmt.fetch(*one)
                total += _rows_affected(stmt.get_statusmsg() or "")
            return total
        except Exception as exc:
            raise translate_error(exc, query) from exc

    async def ping(self) -> None:
        await self._plumbing("SELECT 1")

    async def explain(self, query: Query, args: Args) -> list[str]:
        try:
            if _has_naive(args):
                args = await self._naive_as_utc(query, args)
            rows = await self._conn.fetch(f"EXPLAIN {query.sql}", *args)
        except Exception as exc:
            raise translate_error(exc, query) from exc
        return [str(r[0]) for r in rows]

    async def server_version(self) -> str:
        version = str(self._conn.get_settings().server_version).split()[0]
        return f"PostgreSQL {version}"


def _json_text(value: Any) -> str:
    """A json/jsonb parameter: text as it is (already JSON), anything else encoded, so
    a list binds to a JSON column as it does on MySQL and SQLite."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=json_default, ensure_ascii=False)


async def _bind_json(conn: asyncpg.Connection) -> None:
    """json and jsonb parameters take lists (and dicts) as well as text; results stay
    text, as asyncpg returns them by default (built-in types: no round trip)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=_json_text, decoder=str, format="text"
        )


def _one_row_per_call(query: Query) -> bool:
    text = query.body.lower()
    return (
        text.startswith("insert")
        and " select " not in f" {text} "
        and "on conflict" not in text
        and "returning" not in text
    )


class PostgresDriver:
    """Connections to one PostgreSQL database through asyncpg."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: DatabaseURL, **options: Any) -> None:
        self.url = url
        unknown = set(url.query) - _URL_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"DATABASE_URL has unknown option(s) {', '.join(sorted(unknown))} for"
                f" PostgreSQL; accepted: {', '.join(sorted(_URL_OPTIONS))}",
                variable="DATABASE_URL",
            )
        self._kwargs: dict[str, Any] = {
            "connection_class": _UniquelyNamedStatements,
            "host": url.host,
            "port": url.port,
            "user": url.username or "postgres",
            "password": url.password,
            "database": url.database or "postgres",
            "server_settings": {
                "timezone": "UTC",
                "application_name": url.query.get("application_name", "rawrepo"),
            },
        }
        ssl = url.query.get("sslmode") or url.query.get("ssl")
        if ssl:
            self._kwargs["ssl"] = ssl
        if "statement_cache_size" in url.query:
            try:
                self._kwargs["statement_cache_size"] = int(url.query["statement_cache_size"])
            except ValueError:
                raise ConfigurationError(
                    "DATABASE_URL option statement_cache_size must be an integer",
                    variable="DATABASE_URL",
                ) from None
        self._kwargs.update(options)
        target = url.query.get("target_session_attrs")
        if target is not None and target not in TARGET_SESSION_ATTRS:
            raise ConfigurationError(
                f"DATABASE_URL option target_session_attrs must be one of"
                f" {', '.join(TARGET_SESSION_ATTRS)}; got {target!r}",
                variable="DATABASE_URL",
            )
        # libpq's default is any; with several hosts the point is to find the primary
        self.target: str = target or ("read-write" if len(url.hosts) > 1 else "any")
        self.hosts = HostList(url.hosts)
        # per statement text: the positions of its timestamptz parameters
        self._tz_params: dict[str, frozenset[int]] = {}

    async def _dial(
        self, host: str, port: int, timeout: float, **overrides: Any
    ) -> asyncpg.Connection:
        """One connection to one host; ConnectionLost when the host is down."""
        name = hostport(host, port)
        kwargs = {**self._kwargs, "host": host, "port": port, **overrides, "timeout": timeout}
        try:
            return await asyncpg.connect(**kwargs)
        except Exception as exc:
            err = translate_error(exc)
            # a refused login or a missing database is a failure to connect too, and no
            # retry mends it; a host that is down or starting up may come back
            lost = not isinstance(exc, pgexc.PostgresError) or isinstance(err, ConnectionLost)
            cls = ConnectionLost if lost else ConnectionFailed
            where = name if len(self.hosts.hosts) > 1 else str(self.url)
            raise cls(
                f"cannot connect to {where}: {err.message}", sqlstate=err.sqlstate, host=name
            ) from exc

    async def _open(self, timeout: float, **overrides: Any) -> asyncpg.Connection:
        """A connection to the first host that takes it and is of the kind asked for."""
        conn, _ = await self._open_host(timeout, **overrides)
        return conn

    async def _open_host(self, timeout: float, **overrides: Any) -> tuple[asyncpg.Connection, str]:
        if self.target == "any":
            return await connect_first(
                self.hosts,
                lambda host, port: self._dial_named(host, port, timeout, **overrides),
                describe=str(self.url),
            )
        if self.target == "prefer-standby":
            try:
                return await self._targeted("standby", timeout, **overrides)
            except ConnectionLost:
                pass  # no standby took the connection; any server will do
            return await self._targeted("any", timeout, **overrides)
        return await self._targeted(self.target, timeout, **overrides)

    async def _dial_named(
        self, host: str, port: int, timeout: float, **overrides: Any
    ) -> tuple[asyncpg.Connection, str]:
        return await self._dial(host, port, timeout, **overrides), hostport(host, port)

    async def _targeted(
        self, target: str, timeout: float, **overrides: Any
    ) -> tuple[asyncpg.Connection, str]:
        async def attempt(host: str, port: int) -> tuple[asyncpg.Connection, str]:
            conn = await self._dial(host, port, timeout, **overrides)
            name = hostport(host, port)
            try:
                reason = await _not_target(conn, target)
            except BaseException as exc:
                conn.terminate()
                err = translate_error(exc)
                raise ConnectionLost(f"cannot connect to {name}: {err.message}", host=name) from exc
            if reason is not None:
                conn.terminate()
                raise NotTargetServer(
                    f"{reason} (target_session_attrs={target})", host=name, sqlstate="25006"
                )
            return conn, name

        return await connect_first(self.hosts, attempt, describe=str(self.url))

    async def connect(self, timeout: float) -> PostgresConnection:
        conn, host = await self._open_host(timeout)
        try:
            await _bind_json(conn)
        except BaseException as exc:
            conn.terminate()
            raise translate_error(exc) from exc
        unnamed = self._kwargs.get("statement_cache_size") == 0
        return PostgresConnection(conn, self._tz_params, unnamed=unnamed, host=host)

    async def _admin(self, sql: str) -> None:
        conn = await self._open(10.0, database="postgres")
        try:
            await conn.execute(sql)
        except Exception as exc:
            raise translate_error(exc) from exc
        finally:
            await conn.close()

    async def describe(
        self, queries: Sequence[tuple[Query, Args]]
    ) -> list[QueryDescription | DatabaseError]:
        # asyncpg does not expose a statement's source table columns; libpq (psycopg,
        # already installed for yoyo) describes a prepared statement without running it.
        kwargs = {
            **self._kwargs,
            "host": ",".join(host for host, _ in self.url.hosts),
            "port": ",".join(str(port) for _, port in self.url.hosts),
            "target_session_attrs": self.target,
        }
        return await asyncio.to_thread(_describe_sync, kwargs, [q for q, _ in queries])

    async def create_database(self, name: str) -> None:
        await self._admin(f'CREATE DATABASE "{safe_identifier(name)}"')

    async def drop_database(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{safe_identifier(name)}" WITH (FORCE)')


def _describe_sync(
    kwargs: Mapping[str, Any], queries: Sequence[Query]
) -> list[QueryDescription | DatabaseError]:
    import psycopg
    from psycopg import pq

    fields = pq.DiagnosticField
    results: list[QueryDescription | DatabaseError] = []
    raw: list[tuple[list[tuple[str, int, int, int]], list[int]] | None] = []
    try:
        conn = psycopg.connect(
            host=kwargs["host"],
            port=kwargs["port"],
            user=kwargs["user"],
            password=kwargs["password"],
            dbname=kwargs["database"],
            target_session_attrs=kwargs["target_session_attrs"],
            connect_timeout=10,
            autocommit=True,
        )
    except psycopg.Error as exc:
        failure: ConnectionFailed | None = ConnectionFailed(f"cannot connect for describe: {exc}")
    else:
        failure = None
    if failure is not None:
        # Not chained: psycopg's error keeps the connection string, password included.
        raise failure
    with conn:
        pg = conn.pgconn
        for query in queries:
            # The unnamed statement, prepared and described inside one transaction: on
            # one server connection even behind a transaction-mode pooler (pgbouncer),
            # and nothing left behind on it.
            pg.exec_(b"BEGIN")
            res = pg.prepare(b"", query.sql.encode())
            if res.status == pq.ExecStatus.FATAL_ERROR:
                pg.exec_(b"ROLLBACK")

                def field(code: pq.DiagnosticField, res: pq.abc.PGresult = res) -> str | None:
                    value = res.error_field(code)
                    return value.decode(errors="replace") if value is not None else None

                results.append(
                    server_error(
                        {
                            "sqlstate": field(fields.SQLSTATE),
                            "message": field(fields.MESSAGE_PRIMARY),
                            "detail": field(fields.MESSAGE_DETAIL),
                            "hint": field(fields.MESSAGE_HINT),
                            "position": field(fields.STATEMENT_POSITION),
                        },
                        query.name,
                    )
                )
                raw.append(None)
                continue
            d = pg.describe_prepared(b"")
            pg.exec_(b"ROLLBACK")
            cols = [
                ((d.fname(j) or b"").decode(), d.ftype(j), d.ftable(j), d.ftablecol(j))
                for j in range(d.nfields)
            ]
            raw.append((cols, [d.param_type(j) for j in range(d.nparams)]))
            results.append(QueryDescription(columns=()))
        oids = sorted({c[1] for r in raw if r for c in r[0]} | {p for r in raw if r for p in r[1]})
        tables = sorted({c[2] for r in raw if r for c in r[0] if c[2]})
        type_names: dict[int, str] = dict(
            conn.execute(
                "SELECT oid::int, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)",
                [oids],
            ).fetchall()
        )
        not_null: dict[tuple[int, int], bool] = {
            (rel, num): nn
            for rel, num, nn in conn.execute(
                "SELECT attrelid::int, attnum::int, attnotnull FROM pg_attribute"
                " WHERE attrelid = ANY(%s) AND attnum > 0",
                [tables],
            ).fetchall()
        }
    for i, entry in enumerate(raw):
        if entry is None:
            continue
        cols, params = entry
        results[i] = QueryDescription(
            columns=tuple(
                Column(
                    name=cname,
                    type=type_names.get(oid),
                    nullable=(not not_null[(table, num)]) if (table, num) in not_null else None,
                )
                for cname, oid, table, num in cols
            ),
            parameter_types=tuple(type_names.get(p, str(p)) for p in params),
        )
    return results
