"""Schema migrations: plain SQL files per dialect, run by yoyo-migrations.

Layout: ``<migrations_dir>/<dialect>/NNNN.<name>.sql`` with its undo in
``NNNN.<name>.rollback.sql``, for each dialect (postgresql, mysql, sqlite), the
same ids in every folder.

Whose schema: by default your project's own, ``./migrations`` (relative to the
working directory; ``migrations_dir`` names another folder). rawrepo's bundled
reference schema (the users and tasks tables of its example domain) is applied
only when asked for with ``bundled=True`` (``--bundled`` on the command line), and
:func:`new` never writes into the installed package.

Both kinds share one history per database: yoyo records applied migrations in
its ``_yoyo_migration`` table and serialises runs with a lock row in
``yoyo_lock``. A migration's id is its file name, so your ``0001.create-orders``
and the bundled ``0001.create-users`` are different records and both may be
applied to one database (apply the bundled schema first when your tables refer
to it); a copy of a bundled file keeps its id, so it counts as the same migration.
A run applies, rolls back and lists the migrations of its own folder only; its
``status`` also lists what the database has from elsewhere, marked as such.

Every function here is synchronous (yoyo is); call it from async code with
``asyncio.to_thread``. ``url`` takes the application's own URL
(``postgresql+asyncpg://``, ``mysql+aiomysql://``, ``sqlite+aiosqlite:///``...)
and defaults to ``DATABASE_URL``, then to ``sqlite+aiosqlite:///data/app.db``.

What a failing migration leaves behind:

- PostgreSQL and SQLite: each migration runs in one transaction, DDL included,
  so a failed migration leaves nothing of itself; the ones before it stay
  applied, it is not recorded as applied, the ones after it do not run.
- MySQL/MariaDB: DDL commits implicitly, statement by statement. When a
  statement fails, yoyo runs the rollback statements paired with the ones
  that already ran (the rollback file's statements in reverse order: its last
  statement undoes the migration's first), as far as they go. Statements with
  no paired rollback stay applied. The migration is not recorded as applied.

Errors are :class:`~rawrepo.errors.MigrationError` naming the migration file
and the database's own message; URLs in messages have their password masked.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from rawrepo.config import (
    DEFAULT_DATABASE_URL,
    DIALECTS,
    DatabaseURL,
    Dialect,
    mask_url,
    parse_url,
)
from rawrepo.errors import ConfigurationError, ConnectionFailed, MigrationError
from rawrepo.migration_review import MigrationWarning, review_file

__all__ = [
    "BUNDLED_MIGRATIONS_DIR",
    "DEFAULT_LOCK_TIMEOUT",
    "PROJECT_MIGRATIONS_DIR",
    "MigrationResult",
    "MigrationStatus",
    "MigrationWarning",
    "apply",
    "break_lock",
    "check",
    "migrations_root",
    "new",
    "review",
    "rollback",
    "status",
    "yoyo_url",
]

BUNDLED_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PROJECT_MIGRATIONS_DIR = Path("migrations")
"""The default folder: your project's ``./migrations``, relative to the working directory."""
DEFAULT_LOCK_TIMEOUT = 30.0

_ID = re.compile(r"^(\d{4})\.([A-Za-z0-9][A-Za-z0-9_-]*)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ROLLBACK_SUFFIX = ".rollback.sql"
_LOCK_PID = re.compile(r"Process (\d+)")
# libpq options rawrepo's URL accepts that psycopg understands as they are;
# asyncpg's ``ssl`` is libpq's ``sslmode``; ``statement_cache_size`` is asyncpg's alone.
_PG_OPTIONS = {"sslmode", "application_name", "connect_timeout"}
_MYSQL_OPTIONS = {"charset"}  # PyMySQL takes connect_timeout as an int, yoyo passes text


@dataclass(frozen=True)
class MigrationResult:
    """One migration applied (or rolled back), with how long it took."""

    id: str
    dialect: Dialect
    duration_s: float


@dataclass(frozen=True)
class MigrationStatus:
    """One migration and whether the database has it; ``applied_at`` is UTC."""

    id: str
    applied: bool
    applied_at: datetime | None = None
    in_folder: bool = True
    """False for a migration the database has that the folder does not (from another
    folder, such as rawrepo's bundled schema, or a file since deleted)."""


@dataclass(frozen=True)
class _Target:
    url: DatabaseURL
    yoyo: str
    from_env: bool

    @property
    def dialect(self) -> Dialect:
        return self.url.dialect

    @property
    def masked(self) -> str:
        return self.url.render(mask=True)

    def scrub(self, text: str) -> str:
        """``text`` with the URL's password (raw and URL-quoted) replaced by ``***``."""
        password = self.url.password
        if password:
            for form in {password, quote(password, safe="")}:
                text = text.replace(form, "***")
        return text


def yoyo_url(url: str) -> str:
    """Translate an application URL to the form yoyo connects with.

    ``postgresql+asyncpg://``, ``postgresql://`` and ``postgres://`` become
    ``postgresql+psycopg://`` (psycopg 3); ``mysql+aiomysql://`` and ``mysql://``
    become ``mysql://`` (PyMySQL); ``sqlite+aiosqlite:///x`` and ``sqlite:///x``
    become ``sqlite:///x``. Raises ConfigurationError for a URL rawrepo does not
    accept and for an in-memory SQLite database (another connection cannot see it).
    """
    return _yoyo_url(parse_url(url, variable="url"))


def _yoyo_url(url: DatabaseURL) -> str:
    if url.dialect == "sqlite":
        if url.is_memory:
            raise ConfigurationError(
                "cannot migrate an in-memory SQLite database (sqlite:///:memory:): it lives"
                " in one connection and a migration run cannot reach it; use a file"
                " (sqlite+aiosqlite:///data/app.db)",
                variable="DATABASE_URL",
            )
        return "sqlite:///" + quote(url.database or "", safe="/")
    auth = ""
    if url.username is not None:
        auth = quote(url.username, safe="")
        if url.password is not None:
            auth += ":" + quote(url.password, safe="")
        auth += "@"
    host = url.host or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{auth}{host}:{url.port}" if url.port else f"{auth}{host}"
    if url.dialect == "postgresql":
        query = {k: v for k, v in url.query.items() if k in _PG_OPTIONS}
        if "ssl" in url.query and "sslmode" not in query:
            query["sslmode"] = url.query["ssl"]
        scheme = "postgresql+psycopg"
    else:
        if not url.database:
            raise ConfigurationError(
                f"a MySQL URL for migrations must name a database: {url}",
                variable="DATABASE_URL",
            )
        query = {k: v for k, v in url.query.items() if k in _MYSQL_OPTIONS}
        scheme = "mysql"
    text = f"{scheme}://{netloc}/{quote(url.database or '', safe='')}"
    if query:
        text += "?" + urlencode(query)
    return text


def _target(url: str | None) -> _Target:
    if url is not None:
        parsed = parse_url(url, variable="url")
        from_env = False
    else:
        parsed = parse_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        from_env = True
    if len(parsed.hosts) > 1:
        parsed = _reachable_host(parsed)
    return _Target(url=parsed, yoyo=_yoyo_url(parsed), from_env=from_env)


def _reachable_host(url: DatabaseURL) -> DatabaseURL:
    """A URL with several hosts as the one host to migrate on: PostgreSQL's first
    writable one (``target_session_attrs``, read-write by default), MySQL's first that
    takes a connection. ConnectionFailed naming every host when none does."""
    failures: list[str] = []
    if url.dialect == "postgresql":
        import psycopg

        target = url.query.get("target_session_attrs", "read-write")
        try:
            with psycopg.connect(
                host=",".join(host for host, _ in url.hosts),
                port=",".join(str(port) for _, port in url.hosts),
                user=url.username or "postgres",
                password=url.password,
                dbname=url.database or "postgres",
                target_session_attrs=target,
                connect_timeout=10,
            ) as conn:
                found = (conn.info.host, int(conn.info.port))
        except psycopg.Error as exc:
            text = mask_url(str(exc))
            failures.append(text.replace(url.password, "***") if url.password else text)
        else:
            return _one_host(url, found)
    else:
        import pymysql

        for host, port in url.hosts:
            try:
                pymysql.connect(
                    host=host,
                    port=port,
                    user=url.username or "root",
                    password=url.password or "",
                    connect_timeout=10,
                ).close()
            except pymysql.MySQLError as exc:
                failures.append(f"{host}:{port}: {exc}")
                continue
            return _one_host(url, (host, port))
    raise ConnectionFailed(
        f"cannot migrate {url}: no host took a connection ({'; '.join(failures)})"
    )


def _one_host(url: DatabaseURL, host: tuple[str, int]) -> DatabaseURL:
    return dataclasses.replace(url, host=host[0], port=host[1], hosts=(host,))


def migrations_root(migrations_dir: str | Path | None = None, *, bundled: bool = False) -> Path:
    """The migrations folder a call works on: ``migrations_dir``, else rawrepo's bundled
    reference schema with ``bundled=True``, else the project's ``./migrations``."""
    if bundled:
        if migrations_dir is not None:
            raise ValueError(
                "pass migrations_dir (your migrations) or bundled=True (rawrepo's reference"
                " schema), not both; apply them one after the other"
            )
        return BUNDLED_MIGRATIONS_DIR
    return PROJECT_MIGRATIONS_DIR if migrations_dir is None else Path(migrations_dir)


def _dialect_dir(migrations_dir: str | Path | None, dialect: Dialect, bundled: bool) -> Path:
    root = migrations_root(migrations_dir, bundled=bundled)
    folder = root / dialect
    if folder.is_dir():
        return folder
    if migrations_dir is None and not bundled and not root.is_dir():
        raise MigrationError(_no_project_folder(root))
    raise MigrationError(f"no {dialect} migrations folder: {folder} does not exist")


def _no_project_folder(root: Path) -> str:
    return (
        f"no migrations folder {root} in {Path.cwd()}: create your first migration with"
        " 'rawrepo migrate new NAME', name your folder with --migrations-dir PATH"
        " (migrations_dir=), or use rawrepo's reference users/tasks schema with"
        " --bundled (bundled=True)"
    )


def _ensure_user() -> None:
    # yoyo records who ran a migration with getpass.getuser(), which fails
    # in containers that have no USER and no passwd entry for the uid.
    try:
        getpass.getuser()
    except Exception:
        os.environ.setdefault("USER", "rawrepo")


def _db_message(exc: BaseException) -> str:
    """The database's own message: PyMySQL's ``(code, text)`` args made readable."""
    args: tuple[object, ...] = exc.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{args[1]} (MySQL error {args[0]})"
    diag = getattr(exc, "diag", None)  # psycopg: one line instead of the LINE/caret block
    primary = getattr(diag, "message_primary", None)
    if isinstance(primary, str) and primary:
        detail = getattr(diag, "message_detail", None)
        text = f"{primary}: {detail}" if isinstance(detail, str) and detail else primary
        sqlstate = getattr(diag, "sqlstate", None)
        return f"{text} (SQLSTATE {sqlstate})" if sqlstate else text
    text = str(exc).strip()
    return text or type(exc).__name__


def _read(folder: Path) -> Any:
    from yoyo import read_migrations

    try:
        migrations = read_migrations(str(folder))
        for migration in migrations:
            migration.load()
    except Exception as exc:
        raise MigrationError(f"cannot read the migrations in {folder}: {exc}") from exc
    return migrations


def _sqlite_missing(target: _Target) -> bool:
    """True for an SQLite file that does not exist yet (nothing applied, nothing to lock)."""
    return target.dialect == "sqlite" and not Path(target.url.database or "").exists()


@contextmanager
def _backend(target: _Target) -> Iterator[Any]:
    """A fresh yoyo backend (its lock state must not outlive one operation), closed after."""
    from yoyo import get_backend

    _ensure_user()
    with warnings.catch_warnings():
        # yoyo connects PyMySQL with its old keyword names ``db`` and ``passwd``.
        warnings.filterwarnings("ignore", r"'(db|passwd)' is deprecated", DeprecationWarning)
        failure: MigrationError | None = None
        try:
            backend = get_backend(target.yoyo)
        except Exception as exc:
            failure = MigrationError(
                f"cannot connect to {target.masked} for migrations:"
                f" {target.scrub(_db_message(exc))}"
            )
        if failure is not None:
            # Raised outside the except block, so the driver's error is neither cause
            # nor context: psycopg's keeps the connection string, password included.
            raise failure
        if target.dialect == "postgresql":
            # No server-side prepared statements (psycopg makes one for a query run 5
            # times): behind a transaction-mode pooler (pgbouncer) the next transaction
            # may run on another server connection, which does not have it.
            backend.connection.prepare_threshold = None
        try:
            with backend:  # SQLite: yoyo's datetime adapters; always: close the connection
                yield backend
        finally:
            with suppress(Exception):
                backend.connection.close()


@contextmanager
def _locked(backend: Any, target: _Target, lock_timeout: float) -> Iterator[None]:
    from yoyo.exceptions import LockTimeout

    try:
        with backend.lock(timeout=lock_timeout):
            yield
    except LockTimeout as exc:
        found = _LOCK_PID.search(str(exc))
        holder = f"process {found.group(1)}" if found else "another process"
        command = "rawrepo migrate break-lock"
        if not target.from_env:
            command += f" --url '{target.masked}'"
        raise MigrationError(
            f"the migration lock on {target.masked} is held by {holder}"
            f" (waited {lock_timeout:g} s). If no migration is running (the process"
            f" crashed), clear the lock with: {command}",
            hint="break the lock only when no other migration run is in progress",
        ) from exc


def _check_lock_timeout(lock_timeout: float) -> None:
    if isinstance(lock_timeout, bool) or not 0 < lock_timeout < float("inf"):
        raise ValueError(f"lock_timeout must be a number of seconds > 0, got {lock_timeout!r}")


def _failed(action: str, migration: Any, target: _Target, exc: BaseException) -> MigrationError:
    if target.dialect == "mysql" or not migration.use_transactions:
        left = (
            "its DDL was committed as it ran; statements before the failing one were undone"
            " only where the rollback file pairs an undo with them, so check the schema"
        )
    else:
        left = "its transaction was rolled back, nothing of this migration remains"
    return MigrationError(
        f"{action} {migration.id} failed ({migration.path}): {target.scrub(_db_message(exc))}",
        hint=left if action == "applying" else None,
    )


def _pending(select: Callable[[Any], Any], migrations: Any, target: _Target) -> Any:
    """``backend.to_apply`` / ``to_rollback`` (which read, and may create, yoyo's tables)."""
    try:
        return select(migrations)
    except Exception as exc:
        raise MigrationError(
            f"cannot read the applied migrations of {target.masked}:"
            f" {target.scrub(_db_message(exc))}"
        ) from exc


def apply(
    url: str | None = None,
    *,
    migrations_dir: str | Path | None = None,
    bundled: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_applied: Callable[[MigrationResult], None] | None = None,
) -> list[MigrationResult]:
    """Apply every migration of the folder the database does not have yet, in id order.

    The folder is ``migrations_dir``, else ``./migrations``; ``bundled=True`` applies
    rawrepo's reference users/tasks schema instead. Holds yoyo's lock for the whole
    run, so concurrent runs wait for each other and apply each migration once; waits
    at most ``lock_timeout`` seconds for it. ``on_applied`` is called after each
    migration. Returns the migrations applied (an empty list when the database is up
    to date). Creates the folder of an SQLite file if needed.
    """
    _check_lock_timeout(lock_timeout)
    target = _target(url)
    migrations = _read(_dialect_dir(migrations_dir, target.dialect, bundled))
    if target.dialect == "sqlite":
        Path(target.url.database or "").parent.mkdir(parents=True, exist_ok=True)
    with _backend(target) as backend, _locked(backend, target, lock_timeout):
        pending = _pending(backend.to_apply, migrations, target)
        results = _run_each("applying", pending, target, backend.apply_one, on_applied)
        if results and pending.post_apply:
            for hook in pending.post_apply:
                try:
                    backend.apply_one(hook, mark=False)
                except Exception as exc:
                    raise _failed("applying", hook, target, exc) from exc
    return results


def rollback(
    url: str | None = None,
    count: int | None = None,
    *,
    migrations_dir: str | Path | None = None,
    bundled: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_rolled_back: Callable[[MigrationResult], None] | None = None,
) -> list[MigrationResult]:
    """Roll back the folder's applied migrations, latest id first (the folder as for
    :func:`apply`; migrations the database has from another folder are left alone).

    ``count=None`` rolls back all of them, ``count=N`` the N most recent.
    Returns the migrations rolled back, in the order they were undone.
    """
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive integer or None (all), got {count!r}")
    _check_lock_timeout(lock_timeout)
    target = _target(url)
    migrations = _read(_dialect_dir(migrations_dir, target.dialect, bundled))
    if _sqlite_missing(target):
        return []
    with _backend(target) as backend, _locked(backend, target, lock_timeout):
        chosen = list(_pending(backend.to_rollback, migrations, target))
        if count is not None:
            chosen = chosen[:count]
        return _run_each("rolling back", chosen, target, backend.rollback_one, on_rolled_back)


def _run_each(
    verb: str,
    migrations: Iterable[Any],
    target: _Target,
    step: Callable[[Any], None],
    report: Callable[[MigrationResult], None] | None,
) -> list[MigrationResult]:
    """Run ``step`` on each migration in order, timing it; a failure names the file."""
    results: list[MigrationResult] = []
    for migration in migrations:
        started = time.perf_counter()
        try:
            step(migration)
        except Exception as exc:
            raise _failed(verb, migration, target, exc) from exc
        result = MigrationResult(migration.id, target.dialect, time.perf_counter() - started)
        results.append(result)
        if report is not None:
            report(result)
    return results


def _utc(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def status(
    url: str | None = None, *, migrations_dir: str | Path | None = None, bundled: bool = False
) -> list[MigrationStatus]:
    """Every migration in the folder (as for :func:`apply`), and any the database has
    that the folder lacks (``in_folder=False``: applied from another folder, such as
    the bundled schema, or a file since deleted), by id."""
    target = _target(url)
    migrations = _read(_dialect_dir(migrations_dir, target.dialect, bundled))
    applied: dict[str, datetime | None] = {}
    if not _sqlite_missing(target):
        with _backend(target) as backend:
            try:
                rows = []
                # A database no run has touched has no bookkeeping table: nothing applied.
                if backend.migration_table in backend.list_tables():
                    backend.ensure_internal_schema_updated()
                    # yoyo's own bookkeeping table, in yoyo's own template syntax.
                    sql = backend.format_sql(
                        "SELECT {quoted.migration_id}, {quoted.applied_at_utc}"
                        " FROM {0.migration_table_quoted}"
                    )
                    rows = backend.execute(sql).fetchall()
            except Exception as exc:
                raise MigrationError(
                    f"cannot read the migration status of {target.masked}:"
                    f" {target.scrub(_db_message(exc))}"
                ) from exc
            applied = {str(row[0]): _utc(row[1]) for row in rows}
    known = {m.id for m in migrations}
    ids = sorted(known | set(applied))
    return [MigrationStatus(i, i in applied, applied.get(i), i in known) for i in ids]


def break_lock(url: str | None = None) -> None:
    """Remove yoyo's migration lock (left by a crashed run). Only when no run is in progress."""
    target = _target(url)
    if _sqlite_missing(target):
        return
    with _backend(target) as backend:
        try:
            backend.break_lock()
        except Exception as exc:
            raise MigrationError(
                f"cannot break the migration lock on {target.masked}:"
                f" {target.scrub(_db_message(exc))}"
            ) from exc


def _number(path: Path) -> int | None:
    found = _ID.match(_migration_id(path) or "")
    return int(found.group(1)) if found else None


def _migration_id(path: Path) -> str | None:
    name = path.name
    if name.endswith(_ROLLBACK_SUFFIX):
        return name[: -len(_ROLLBACK_SUFFIX)]
    if name.endswith(".sql"):
        return name[: -len(".sql")]
    return None


_TEMPLATES: dict[Dialect, tuple[str, str]] = {
    "postgresql": (
        """\
-- {name} (postgresql): describe the change here, and why.
--
-- On a table that already holds data ('rawrepo migrate check' warns about these):
--   * Start with   SET lock_timeout = '5s';   so a statement that waits for its lock
--     fails instead of making every query on the table queue behind it; rerun later.
--   * An index on a live table: CREATE INDEX CONCURRENTLY IF NOT EXISTS ... builds it
--     without blocking writes, but cannot run in a transaction: put the line
--     "-- transactional: false" first in this file (above this comment), make the
--     index the only change here, and undo it with DROP INDEX CONCURRENTLY IF EXISTS.
--   * A constraint: ADD CONSTRAINT ... NOT VALID here, VALIDATE CONSTRAINT in a later
--     migration (it then blocks no reads or writes).
--   * ADD COLUMN with a volatile default (clock_timestamp(), gen_random_uuid(), a
--     serial) and ALTER COLUMN ... TYPE rewrite the table under an exclusive lock:
--     add the column plain or with a constant default, backfill in batches.
""",
        "-- Undoes {id} (postgresql).\n",
    ),
    "mysql": (
        """\
-- {name} (mysql): describe the change here, and why.
--
-- MySQL/MariaDB commit each DDL statement as it runs: if a later statement fails,
-- the earlier ones stay. Write each one so a rerun works (IF NOT EXISTS / IF EXISTS),
-- one change per statement, each undone by the rollback file's statements in reverse.
-- On a live table, ask for online DDL and let MySQL refuse what would block:
--   ALTER TABLE t ADD COLUMN c INT NULL, ALGORITHM=INSTANT;
--   CREATE INDEX ix_t_c ON t (c) ALGORITHM=INPLACE, LOCK=NONE;
""",
        "-- Undoes {id} (mysql).\n",
    ),
    "sqlite": (
        """\
-- {name} (sqlite): describe the change here, and why.
--
-- SQLite runs the migration in one transaction. ALTER TABLE does only ADD COLUMN,
-- RENAME and DROP COLUMN; for other changes create the new table, copy the rows,
-- drop the old one and rename the new one.
""",
        "-- Undoes {id} (sqlite).\n",
    ),
}


def _installed(path: Path) -> bool:
    """True for a path inside an installed distribution: under site-packages or
    dist-packages, or inside rawrepo's own package when that is not a source checkout
    (no pyproject.toml beside it, as after ``pip install --target``)."""
    resolved = path.resolve()
    if any(part in ("site-packages", "dist-packages") for part in resolved.parts):
        return True
    package = BUNDLED_MIGRATIONS_DIR.parent
    return resolved.is_relative_to(package) and not (package.parent / "pyproject.toml").is_file()


def new(
    name: str, *, migrations_dir: str | Path | None = None, bundled: bool = False
) -> list[Path]:
    """Create ``NNNN.<name>.sql`` and ``NNNN.<name>.rollback.sql`` in every dialect folder
    of your project's ``./migrations`` (or ``migrations_dir``), creating the folders.

    ``NNNN`` is one more than the highest number in any dialect folder. ``name``
    is letters, digits, ``-`` and ``_`` (at most 64, starting with a letter or
    digit). Each new file says how to write a change a live table accepts (on
    PostgreSQL: ``lock_timeout``, ``CREATE INDEX CONCURRENTLY`` in a
    ``-- transactional: false`` migration, ``NOT VALID`` constraints). Never writes
    into an installed package, and into rawrepo's bundled schema only with
    ``bundled=True`` (rawrepo development, in a source checkout). Returns the
    created files.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"migration name must be 1-64 letters, digits, '-' or '_', starting with a letter"
            f" or digit (e.g. add-task-priority), got {name!r}"
        )
    root = migrations_root(migrations_dir, bundled=bundled)
    if _installed(root):
        raise MigrationError(
            f"{root} is inside an installed package ({root.resolve()}): write your migrations"
            " into your project, e.g. --migrations-dir migrations (the default, ./migrations)"
        )
    if not bundled and root.resolve() == BUNDLED_MIGRATIONS_DIR:
        raise MigrationError(
            f"{root} is rawrepo's bundled reference schema ({BUNDLED_MIGRATIONS_DIR}): name"
            " your own folder with --migrations-dir PATH, or pass --bundled to change the"
            " reference schema itself (rawrepo development)"
        )
    if migrations_dir is None and not bundled:
        root.mkdir(exist_ok=True)
    elif not root.is_dir():
        raise MigrationError(f"migrations folder {root} does not exist")
    numbers = [
        n
        for dialect in DIALECTS
        if (root / dialect).is_dir()
        for path in (root / dialect).glob("*.sql")
        if (n := _number(path)) is not None
    ]
    number = max(numbers, default=0) + 1
    if number > 9999:
        raise MigrationError(f"migration numbers in {root} are used up (9999)")
    migration_id = f"{number:04d}.{name}"
    created: list[Path] = []
    for dialect in DIALECTS:
        folder = root / dialect
        folder.mkdir(exist_ok=True)
        forward = folder / f"{migration_id}.sql"
        undo = folder / f"{migration_id}{_ROLLBACK_SUFFIX}"
        template, undo_template = _TEMPLATES[dialect]
        forward.write_text(template.format(name=name, id=migration_id), "utf-8")
        undo.write_text(undo_template.format(name=name, id=migration_id), "utf-8")
        created += [forward, undo]
    return created


def review(
    migrations_dir: str | Path | None = None, *, bundled: bool = False
) -> list[MigrationWarning]:
    """Warnings about the PostgreSQL migrations of a folder (as for :func:`apply`) that
    lock or rewrite tables a live database serves: see :mod:`rawrepo.migration_review`
    for the rules. Reads the files only; needs no database."""
    folder = migrations_root(migrations_dir, bundled=bundled) / "postgresql"
    if not folder.is_dir():
        return []
    found: list[MigrationWarning] = []
    for path in sorted(folder.glob("*.sql")):
        if path.name.endswith(_ROLLBACK_SUFFIX) or path.name.startswith("post-apply"):
            continue
        found += review_file(path)
    return found


def check(migrations_dir: str | Path | None = None, *, bundled: bool = False) -> list[str]:
    """Problems in a migrations folder (as for :func:`apply`); an empty list means it is
    consistent. (:func:`review` gives the warnings about live tables.)

    Every dialect folder must exist and hold the same migration ids, named
    ``NNNN.<name>.sql``, each with its ``.rollback.sql``, one id per number.
    yoyo's ``post-apply*.sql`` hooks (run after every apply, no rollback) are
    allowed. Other ``.sql`` and ``.py`` files are reported (yoyo would run
    them); files of other kinds (a README) are ignored.
    """
    root = migrations_root(migrations_dir, bundled=bundled)
    if not root.is_dir():
        if migrations_dir is None and not bundled:
            return [_no_project_folder(root)]
        return [f"{root}: migrations folder does not exist"]
    problems: list[str] = []
    ids: dict[Dialect, set[str]] = {}
    for dialect in DIALECTS:
        folder = root / dialect
        if not folder.is_dir():
            problems.append(f"{folder}: {dialect} folder is missing")
            continue
        forward: set[str] = set()
        undo: set[str] = set()
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix not in (".sql", ".py"):
                continue
            if path.name.startswith("post-apply") and path.suffix == ".sql":
                forward.add(path.stem)
                undo.add(path.stem)  # a hook has no rollback
                continue
            migration_id = _migration_id(path)
            if migration_id is None or not _ID.match(migration_id):
                problems.append(
                    f"{path}: not a migration file (expected NNNN.name.sql"
                    f" or NNNN.name{_ROLLBACK_SUFFIX})"
                )
                continue
            (undo if path.name.endswith(_ROLLBACK_SUFFIX) else forward).add(migration_id)
        for migration_id in sorted(forward - undo):
            problems.append(f"{folder / migration_id}.sql: has no {migration_id}{_ROLLBACK_SUFFIX}")
        for migration_id in sorted(undo - forward):
            problems.append(f"{folder / migration_id}{_ROLLBACK_SUFFIX}: has no {migration_id}.sql")
        by_number: dict[str, list[str]] = {}
        for migration_id in filter(_ID.match, forward):
            by_number.setdefault(migration_id[:4], []).append(migration_id)
        for number, same in sorted(by_number.items()):
            if len(same) > 1:
                problems.append(f"{folder}: number {number} is used by {', '.join(sorted(same))}")
        ids[dialect] = forward
    every = set().union(*ids.values()) if ids else set()
    for migration_id in sorted(every):
        missing = [d for d in ids if migration_id not in ids[d]]
        if missing:
            present = [d for d in ids if migration_id in ids[d]]
            problems.append(
                f"{migration_id}: in {', '.join(present)} but missing in {', '.join(missing)}"
            )
    return problems
