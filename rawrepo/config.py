"""Settings from the environment: ``DATABASE_URL``, pool sizing, ``SQL_ECHO``,
``SQL_TAGS``, ``SQL_SLOW_MS``, ``SQL_TRACING`` and the read replicas
(``DATABASE_REPLICA_URLS``, ``DATABASE_REPLICA_MAX_LAG``, ``DATABASE_REPLICA_WAIT``,
``DATABASE_REPLICA_COOLDOWN``).

Explicit arguments win over the environment; the environment wins over the
defaults. Every bad value raises :class:`~rawrepo.errors.ConfigurationError`
naming the variable (or argument) and what it accepts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from rawrepo.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DatabaseURL",
    "Dialect",
    "Settings",
    "mask_url",
    "parse_url",
    "resolve_connect_timeout",
]

Dialect = Literal["postgresql", "mysql", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/app.db"

# scheme -> (dialect, driver)
_SCHEMES: dict[str, tuple[Dialect, str]] = {
    "postgresql+asyncpg": ("postgresql", "asyncpg"),
    "postgresql": ("postgresql", "asyncpg"),
    "postgres": ("postgresql", "asyncpg"),
    "mysql+aiomysql": ("mysql", "aiomysql"),
    "mysql": ("mysql", "aiomysql"),
    "mariadb+aiomysql": ("mysql", "aiomysql"),
    "mariadb": ("mysql", "aiomysql"),
    "mysql+asyncmy": ("mysql", "asyncmy"),
    "mariadb+asyncmy": ("mysql", "asyncmy"),
    "sqlite+aiosqlite": ("sqlite", "aiosqlite"),
    "sqlite": ("sqlite", "aiosqlite"),
}
_DEFAULT_PORTS: dict[Dialect, int] = {"postgresql": 5432, "mysql": 3306}
ACCEPTED_URLS = (
    "postgresql+asyncpg://, postgresql://, postgres://, mysql+aiomysql://, mysql://, "
    "mysql+asyncmy:// (optional driver), "
    "sqlite+aiosqlite:///relative.db, sqlite+aiosqlite:////abs/path.db, "
    "sqlite+aiosqlite:///:memory:, sqlite:///..."
)


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. ``str()`` and ``repr()`` mask the password."""

    raw: str = field(repr=False)
    scheme: str
    dialect: Dialect
    driver: str
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    hosts: tuple[tuple[str, int], ...] = ()
    """Every ``(host, port)`` the URL lists, in order (``host``/``port`` are the first);
    empty for SQLite."""

    def __post_init__(self) -> None:
        if not self.hosts and self.host is not None and self.port is not None:
            object.__setattr__(self, "hosts", ((self.host, self.port),))

    @property
    def is_memory(self) -> bool:
        """True for an SQLite in-memory database."""
        return self.dialect == "sqlite" and self.database in (None, "", ":memory:")

    def with_database(self, database: str) -> DatabaseURL:
        """The same server and credentials, another database (or SQLite path)."""
        return parse_url(self._render(database=database, mask=False))

    def render(self, *, mask: bool = True) -> str:
        """The URL as text; the password is replaced by ``***`` unless ``mask=False``."""
        return self._render(database=self.database, mask=mask)

    def _render(self, *, database: str | None, mask: bool) -> str:
        if self.dialect == "sqlite":
            text = f"{self.scheme}:///{database or ':memory:'}"
        else:
            auth = ""
            if self.username is not None:
                auth = quote(self.username, safe="")
                if self.password is not None:
                    auth += ":" + ("***" if mask else quote(self.password, safe=""))
                auth += "@"
            hosts = ",".join(
                (f"[{host}]" if ":" in host else host) + f":{port}" for host, port in self.hosts
            )
            text = f"{self.scheme}://{auth}{hosts}/{quote(database or '', safe='')}"
        if self.query:
            text += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in self.query.items())
        return text

    def __str__(self) -> str:
        return self.render(mask=True)


def parse_url(url: str, *, variable: str = "DATABASE_URL") -> DatabaseURL:
    """Parse and validate a database URL, raising ConfigurationError naming ``variable``."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"{variable} is not a database URL; accepted: {ACCEPTED_URLS}", variable=variable
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"{variable} has unsupported scheme {scheme!r}; accepted: {ACCEPTED_URLS}",
            variable=variable,
        )
    dialect, driver = _SCHEMES[scheme]
    if dialect == "sqlite":
        rest = url.split("://", 1)[1]
        if not rest.startswith("/"):
            raise ConfigurationError(
                f"{variable}: an SQLite URL needs three slashes (sqlite+aiosqlite:///file.db)"
                f" or four for an absolute path; got {mask_url(url)!r}",
                variable=variable,
            )
        path, _, qs = rest[1:].partition("?")
        query = dict(parse_qsl(qs))
        return DatabaseURL(
            raw=url,
            scheme=scheme,
            dialect=dialect,
            driver=driver,
            database=unquote(path) or ":memory:",
            query=query,
        )
    rest = url.split("://", 1)[1]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    auth, at, hostlist = netloc.rpartition("@")
    entries = hostlist.split(",")
    try:
        # the first host stands for all in urlsplit; each one is parsed on its own
        parts = urlsplit(url.replace(netloc, f"{auth}{at}{entries[0]}", 1))
        port = parts.port
        hosts = tuple(_host_entry(entry, _DEFAULT_PORTS[dialect]) for entry in entries)
    except ValueError as exc:
        raise ConfigurationError(
            f"{variable} is malformed ({exc}): {mask_url(url)!r}", variable=variable
        ) from None
    if len(hosts) > 1 and any(not host for host, _ in hosts):
        raise ConfigurationError(
            f"{variable} lists an empty host (h1:5432,h2:5433 expected): {mask_url(url)!r}",
            variable=variable,
        )
    if len(set(hosts)) != len(hosts):
        raise ConfigurationError(
            f"{variable} lists a host twice: {mask_url(url)!r}", variable=variable
        )
    hosts = tuple((host or "127.0.0.1", number) for host, number in hosts)
    database = unquote(parts.path.lstrip("/")) or None
    return DatabaseURL(
        raw=url,
        scheme=scheme,
        dialect=dialect,
        driver=driver,
        host=parts.hostname or "127.0.0.1",
        port=port or _DEFAULT_PORTS[dialect],
        hosts=hosts,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database,
        query=dict(parse_qsl(parts.query)),
    )


def _host_entry(entry: str, default_port: int) -> tuple[str, int]:
    """One ``host[:port]`` of a URL's host list (an IPv6 address in brackets)."""
    parts = urlsplit(f"//{entry}")
    port = parts.port  # ValueError when not a port number 0..65535
    return unquote(parts.hostname or ""), port or default_port


def mask_url(url: str) -> str:
    """Replace the password in any URL-looking text by ``***`` (best effort, never raises)."""
    try:
        scheme, sep, rest = url.partition("://")
        if not sep:
            return url
        netloc, slash, tail = rest.partition("/")
        if "@" not in netloc:
            return url
        auth, _, host = netloc.rpartition("@")
        if ":" not in auth:
            return url
        user = auth.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}{slash}{tail}"
    except Exception:  # pragma: no cover - masking must never fail
        return "<url hidden>"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _int(name: str, value: object, minimum: int) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value.strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
        if not isinstance(value, str | int) and number != value:
            raise ValueError  # 1.5 would be truncated to 1
    except (TypeError, ValueError, OverflowError):
        raise ConfigurationError(
            f"{name} must be an integer >= {minimum}, got {value!r}", variable=name
        ) from None
    if number < minimum:
        raise ConfigurationError(
            f"{name} must be an integer >= {minimum}, got {number}", variable=name
        )
    return number


def _seconds(name: str, value: object, *, zero: bool = False) -> float:
    if zero:
        return _float(name, value, "a number of seconds >= 0", lambda number: number >= 0)
    return _float(name, value, "a number of seconds > 0", lambda number: number > 0)


DEFAULT_CONNECT_TIMEOUT = 10.0


def resolve_connect_timeout(value: object, url: DatabaseURL) -> float:
    """Seconds for one connect to one host: ``value`` if given, else the URL's
    ``connect_timeout`` option, else 10; ConfigurationError unless a number > 0."""
    if value is not None:
        return _seconds("connect_timeout", value)
    raw = url.query.get("connect_timeout")
    if raw is None:
        return DEFAULT_CONNECT_TIMEOUT
    return _seconds("DATABASE_URL option connect_timeout", raw)


def _milliseconds(name: str, value: object) -> float | None:
    """A threshold in milliseconds >= 0; an empty variable means none."""
    if isinstance(value, str) and not value.strip():
        return None
    return _float(name, value, "a number of milliseconds >= 0", lambda number: number >= 0)


def _float(name: str, value: object, accepted: str, fits: Callable[[float], bool]) -> float:
    message = f"{name} must be {accepted}, got {value!r}"
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(message, variable=name) from None
    if not fits(number) or number == float("inf"):
        raise ConfigurationError(message, variable=name)
    return number


def _bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(
        f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}",
        variable=name,
    )


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one :class:`~rawrepo.Database`."""

    url: DatabaseURL
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_recycle: float = 3600.0
    echo: bool = False
    query_tags: bool = True
    """Start each statement with ``/* rawrepo:<query name> */`` (``SQL_TAGS``)."""
    slow_ms: float | None = None
    """Log a WARNING for each statement slower than this (``SQL_SLOW_MS``); None: off."""
    tracing: bool | None = None
    """OpenTelemetry spans (``SQL_TRACING``); None: on when opentelemetry-api is installed."""
    replica_urls: tuple[DatabaseURL, ...] = ()
    """Read replicas of ``url`` (same dialect), each with its own pool of the same size."""
    replica_max_lag: float | None = None
    """Seconds a replica may lag before reads skip it (None: no limit)."""
    replica_wait: float = 1.0
    """Seconds a read-only session may wait for a replica to reach its ``after`` token."""
    replica_cooldown: float = 5.0
    """Seconds a failing or lagging replica is skipped before it is tried again."""

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float | None = None,
        pool_recycle: float | None = None,
        echo: bool | None = None,
        query_tags: bool | None = None,
        slow_ms: float | None = None,
        tracing: bool | None = None,
        replica_urls: Sequence[str] | None = None,
        replica_max_lag: float | None = None,
        replica_wait: float | None = None,
        replica_cooldown: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Merge explicit arguments, the environment and the defaults, validating each."""
        environ = os.environ if env is None else env

        def pick(arg: object, variable: str, argname: str) -> tuple[object, str] | None:
            if arg is not None:
                return arg, argname
            if variable in environ:
                return environ[variable], variable
            return None

        if url is not None:
            parsed = parse_url(url, variable="url")
        else:
            parsed = parse_url(environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        settings: dict[str, object] = {}
        for arg, var, key in (
            (pool_size, "DATABASE_POOL_SIZE", "pool_size"),
            (max_overflow, "DATABASE_MAX_OVERFLOW", "max_overflow"),
            (pool_timeout, "DATABASE_POOL_TIMEOUT", "pool_timeout"),
            (pool_recycle, "DATABASE_POOL_RECYCLE", "pool_recycle"),
            (echo, "SQL_ECHO", "echo"),
            (query_tags, "SQL_TAGS", "query_tags"),
            (slow_ms, "SQL_SLOW_MS", "slow_ms"),
            (tracing, "SQL_TRACING", "tracing"),
        ):
            found = pick(arg, var, key)
            if found is None:
                continue
            value, name = found
            if key == "pool_size":
                settings[key] = _int(name, value, 1)
            elif key == "max_overflow":
                settings[key] = _int(name, value, 0)
            elif key in ("echo", "query_tags", "tracing"):
                settings[key] = _bool(name, value)
            elif key == "slow_ms":
                settings[key] = _milliseconds(name, value)
            else:
                settings[key] = _seconds(name, value)
        replicas = _replica_settings(
            parsed, environ, replica_urls, replica_max_lag, replica_wait, replica_cooldown
        )
        return cls(url=parsed, **settings, **replicas)  # type: ignore[arg-type]

    def sqlite_path(self) -> Path | None:
        """The SQLite file path (None for ``:memory:`` or another dialect)."""
        if self.url.dialect != "sqlite" or self.url.is_memory:
            return None
        return Path(self.url.database or "")


# A comma only separates replica URLs where the next URL's scheme follows it, so a
# comma inside one URL (a multi-host URL, a quoted password) stays in that URL.
_URL_LIST_SPLIT = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def split_url_list(text: str) -> list[str]:
    """``DATABASE_REPLICA_URLS`` text as a list of URLs (empty text: none)."""
    text = text.strip().strip(",").strip()
    return [part.strip() for part in _URL_LIST_SPLIT.split(text)] if text else []


def _replica_settings(
    primary: DatabaseURL,
    environ: Mapping[str, str],
    urls: Sequence[str] | None,
    max_lag: float | None,
    wait: float | None,
    cooldown: float | None,
) -> dict[str, object]:
    """The replica part of :class:`Settings`, validated against the primary's URL."""
    if urls is not None:
        if isinstance(urls, str):
            raise ConfigurationError(
                "replica_urls must be a list of URLs, not one string", variable="replica_urls"
            )
        variable, texts = "replica_urls", list(urls)
    else:
        variable = "DATABASE_REPLICA_URLS"
        texts = split_url_list(environ.get(variable, ""))
    replicas = tuple(parse_url(text, variable=variable) for text in texts)
    if replicas and primary.dialect == "sqlite":
        raise ConfigurationError(
            f"{variable}: SQLite has no replicas (the primary is {primary})", variable=variable
        )
    for replica in replicas:
        if replica.dialect != primary.dialect:
            raise ConfigurationError(
                f"{variable}: replica {replica} is {replica.dialect}, but the primary"
                f" {primary} is {primary.dialect}; every replica must have the primary's"
                " dialect",
                variable=variable,
            )
    out: dict[str, object] = {"replica_urls": replicas}
    for arg, var, key in (
        (max_lag, "DATABASE_REPLICA_MAX_LAG", "replica_max_lag"),
        (wait, "DATABASE_REPLICA_WAIT", "replica_wait"),
        (cooldown, "DATABASE_REPLICA_COOLDOWN", "replica_cooldown"),
    ):
        value: object
        if arg is not None:
            value, name = arg, key
        elif environ.get(var, "").strip():
            value, name = environ[var], var
        else:
            continue
        out[key] = _seconds(name, value, zero=key != "replica_max_lag")
    return out
