"""Load ``.sql`` files into :class:`Query` objects, one query per file.

Layout: ``<sql_dir>/<area>/<name>.sql``, with optional per-dialect overrides
``<area>/<name>.<dialect>.sql`` (dialects: postgresql, mysql, sqlite) that win
over the generic file. A query's name is ``area.name``.

Parameters are written ``:name``. Each file is rewritten once, at load time, to
the driver's style: ``$1`` (asyncpg), ``%(name)s`` (aiomysql, every literal
``%`` doubled) or ``:name`` (sqlite3). String literals, quoted identifiers,
comments, ``::`` casts and ``$tag$`` bodies are left alone. The leading ``--``
lines of a file are its description.

List parameters: a parameter written alone inside ``IN (...)`` (``WHERE id IN
(:ids)``, or ``NOT IN (:ids)``) takes a list, tuple or set of values, still one
constant statement per dialect: ``id = ANY($1)`` / ``id <> ALL($1)`` with one
array on PostgreSQL, ``id IN %(ids)s`` rendered as ``(v1, v2, ...)`` on MySQL,
``id IN (SELECT value FROM json_each(:ids))`` with one JSON array on SQLite. An
empty list matches nothing (``NOT IN``: everything), as on every backend.

Values are bound the same way everywhere (:meth:`Query.bind`): enums as their
value, dicts (and, outside ``IN``, lists) as JSON text; Decimal, date, time,
datetime and UUID values as each driver stores them.

Query tags: loaded with ``tags=True`` (what :class:`~rawrepo.Database` does unless
``SQL_TAGS=0`` or ``Database(query_tags=False)``), each statement starts with a
constant comment naming its query, ``/* rawrepo:tasks.get_by_user */ SELECT ...``.
It is part of the text from load time on, so it costs nothing per call and every
call of one query sends the same text (prepared-statement caches keep working).
PostgreSQL keeps the comment in ``pg_stat_statements`` and ``pg_stat_activity``,
MySQL/MariaDB in the process list, the slow log and the statement history;
``rawrepo sql stats`` maps the server's statistics back to the files with it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from rawrepo.config import DIALECTS, Dialect
from rawrepo.errors import DataError, QueryLoadError, QueryNotFoundError, QueryParameterError

__all__ = [
    "BUNDLED_SQL_DIR",
    "Query",
    "QuerySet",
    "json_default",
    "load_queries",
    "parse_query",
    "query_files",
    "query_tag",
    "tag_of",
]

BUNDLED_SQL_DIR = Path(__file__).resolve().parent / "sql"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_]+")
_READ_KEYWORDS = frozenset({"select", "values", "show", "explain", "table", "describe", "pragma"})
_WRITE_KEYWORDS = frozenset({"insert", "update", "delete", "replace", "merge", "upsert"})
# ``[NOT] IN (`` right before a parameter, and the ``)`` right after it: a list parameter.
_IN_OPEN = re.compile(r"(?<![\w$])(?:(NOT)\s+)?IN(\s*\(\s*)\Z", re.IGNORECASE)
_IN_CLOSE = re.compile(r"\s*\)")
# Types every driver binds as they are (SQLite's and MySQL's encoders convert the
# Decimal, date and time values); anything else goes through ``_bind_value``.
_PLAIN: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), bytes, uuid.UUID, dt.datetime, dt.date, dt.time, Decimal}
)
_SEQUENCES = (list, tuple, set, frozenset)
# The plain types' subclasses, and a timedelta (an interval; SQLite's driver names it).
_PORTABLE = (
    *(str, int, float, bytes, bytearray, memoryview),
    *(uuid.UUID, dt.date, dt.time, dt.timedelta, Decimal),
)

_TAG_PREFIX = "/* rawrepo:"
_TAG = re.compile(r"\s*/\* rawrepo:([A-Za-z0-9_.\-]+) \*/")
_UNSAFE_IN_TAG = re.compile(r"[^A-Za-z0-9_.\-]")


def query_tag(name: str) -> str:
    """The comment that names query ``name`` in the statements sent:
    ``/* rawrepo:<name> */`` (characters other than letters, digits, ``_.-`` become ``_``,
    so the comment can never end early or hold a ``%`` or a placeholder)."""
    return f"{_TAG_PREFIX}{_UNSAFE_IN_TAG.sub('_', name)} */"


def tag_of(sql: str) -> str | None:
    """The query name of the rawrepo tag that starts ``sql`` (a statement as a server's
    statistics or process list show it), or None. A tag further in does not count:
    ``EXPLAIN /* rawrepo:x */ SELECT ...`` is not query ``x`` being run."""
    found = _TAG.match(sql)
    return found.group(1) if found else None


@dataclass(frozen=True, eq=False)
class Query:
    """One loaded query, ready for one dialect.

    ``sql`` is the text the driver runs (starting with ``tag``, the comment that
    names the query, when loaded with tags); ``body`` is the statement without
    the tag; ``source`` is the file as written. ``params`` lists the parameter
    names in order of first appearance (for asyncpg, ``$n`` is the n-th name in
    that list). ``operation`` is the statement's SQL verb (``SELECT``, ``INSERT``...).
    """

    name: str
    dialect: Dialect
    path: Path
    sql: str
    source: str
    description: str
    params: tuple[str, ...]
    is_write: bool
    _param_set: frozenset[str] = field(repr=False, default=frozenset())
    custom_plan: bool = False
    """``-- rawrepo: custom-plan``: on PostgreSQL, plan the statement for its actual
    parameters on every call instead of reusing a cached generic plan (for queries
    whose best plan depends on the values, like a trigram search)."""
    list_params: frozenset[str] = frozenset()
    """Parameters written ``IN (:name)``: each takes a list, tuple or set of values."""
    tag: str = ""
    """``/* rawrepo:<name> */`` when ``sql`` starts with it, else empty."""
    operation: str = ""

    @property
    def body(self) -> str:
        """The statement without its leading tag (what the file says, rewritten)."""
        return self.sql[len(self.tag) + 1 :] if self.tag else self.sql

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """Check ``values`` against the query's parameters and order them for the driver.

        Returns a tuple in ``$n`` order for PostgreSQL, a dict otherwise. Enums are
        bound as their value, dicts as JSON text, lists as JSON text too except on
        PostgreSQL (where a list is an array, or JSON for a json/jsonb parameter) and
        for list parameters (``IN (:ids)``), which take a list, tuple or set. Raises
        :class:`QueryParameterError` naming the parameter and the query file.
        """
        if len(values) != len(self.params) or not self._param_set.issuperset(values):
            self._raise_parameter_error(values)
        for value in values.values():
            if type(value) not in _PLAIN:
                values = {name: self._bind_value(name, v) for name, v in values.items()}
                break
        if self.dialect == "postgresql":
            return tuple([values[n] for n in self.params])
        return dict(values)

    def _bind_value(self, name: str, value: Any) -> Any:
        if name in self.list_params:
            if not isinstance(value, _SEQUENCES):
                raise self._parameter_error(
                    name,
                    f"is a list parameter (written IN (:{name})): pass a list, tuple or set,"
                    f" got {type(value).__name__}",
                )
            return [self._bind_scalar(name, item) for item in value]
        return self._bind_scalar(name, value)

    def _bind_scalar(self, name: str, value: Any) -> Any:
        if type(value) in _PLAIN:
            return value
        if isinstance(value, Enum):
            return self._bind_scalar(name, value.value)
        if isinstance(value, dict) or (
            isinstance(value, _SEQUENCES) and self.dialect != "postgresql"
        ):
            try:
                return json.dumps(value, default=json_default, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise self._data_error(name, f"cannot be bound as JSON: {exc}") from None
        if isinstance(value, tuple | set | frozenset):
            return list(value)  # a PostgreSQL array
        if self.dialect == "postgresql" or isinstance(value, _PORTABLE):
            return value  # asyncpg binds more types (ip addresses, ranges) or names this one
        raise self._data_error(
            name,
            f"has type {type(value).__name__}, which rawrepo does not bind on {self.dialect};"
            " pass str, int, float, bool, bytes, Decimal, date, time, datetime, UUID,"
            " an enum, a dict or a list",
        )

    def _data_error(self, name: str, problem: str) -> DataError:
        return DataError(
            f"parameter :{name} of query {self.name} ({self.path}) {problem}", query=self.name
        )

    def _parameter_error(self, name: str, problem: str) -> QueryParameterError:
        return QueryParameterError(
            f"parameter :{name} of query {self.name} ({self.path}) {problem}",
            query=self.name,
            path=str(self.path),
            parameter=name,
        )

    def _raise_parameter_error(self, values: Mapping[str, Any]) -> None:
        missing = [p for p in self.params if p not in values]
        unexpected = sorted(k for k in values if k not in self._param_set)
        expected = ", ".join(self.params) or "none"
        if missing:
            raise QueryParameterError(
                f"query {self.name} ({self.path}) is missing parameter {missing[0]!r}"
                f" (expects: {expected})",
                query=self.name,
                path=str(self.path),
                parameter=missing[0],
            )
        raise QueryParameterError(
            f"query {self.name} ({self.path}) got unexpected parameter {unexpected[0]!r}"
            f" (expects: {expected})",
            query=self.name,
            path=str(self.path),
            parameter=unexpected[0],
        )


def json_default(value: Any) -> Any:
    """JSON for the values rawrepo binds that ``json`` does not know."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def parse_query(
    source: str, dialect: Dialect, *, name: str, path: Path, tag: bool = False
) -> Query:
    """Rewrite one file's text for ``dialect``; raise QueryLoadError with ``file:line``.
    ``tag``: start the statement with the comment naming the query (see the module
    docstring)."""

    def fail(index: int, message: str) -> QueryLoadError:
        line = _line_of(source, index)
        return QueryLoadError(f"{path}:{line}: {message}", query=name, path=str(path), line=line)

    out: list[str] = []
    code: list[str] = []  # the text outside literals and comments, for classification
    params: list[str] = []
    index_of: dict[str, int] = {}
    list_names: dict[str, int] = {}  # list parameter -> where it first appears
    scalar_names: dict[str, int] = {}
    mysql = dialect == "mysql"
    i, n = 0, len(source)
    statement_end: int | None = None

    def emit(text: str) -> None:
        out.append(text.replace("%", "%%") if mysql else text)

    while i < n:
        ch = source[i]
        nxt = source[i + 1] if i + 1 < n else ""
        if statement_end is not None and not ch.isspace():
            if ch == "-" and nxt == "-":
                end = source.find("\n", i)
                end = n if end < 0 else end
                emit(source[i:end])
                i = end
                continue
            raise fail(i, "a query file holds one statement; text follows the ';'")
        if ch == "'" or (ch == '"') or (ch == "`" and dialect != "postgresql"):
            backslash = mysql or (
                ch == "'"
                and dialect == "postgresql"
                and i > 0
                and source[i - 1] in "eE"
                and (i < 2 or not (source[i - 2].isalnum() or source[i - 2] == "_"))
            )
            j = i + 1
            while True:
                if j >= n:
                    kind = "identifier" if ch != "'" else "string literal"
                    raise fail(i, f"unterminated quoted {kind} (opened with {ch})")
                c = source[j]
                if backslash and c == "\\":
                    j += 2
                    continue
                if c == ch:
                    if j + 1 < n and source[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            emit(source[i : j + 1])
            code.append(" ")
            i = j + 1
            continue
        if (ch == "-" and nxt == "-") or (ch == "#" and mysql):
            end = source.find("\n", i)
            end = n if end < 0 else end
            emit(source[i:end])
            i = end
            continue
        if ch == "/" and nxt == "*":
            depth, j = 1, i + 2
            while depth:
                if j >= n:
                    raise fail(i, "unterminated /* comment")
                if source.startswith("*/", j):
                    depth -= 1
                    j += 2
                elif dialect == "postgresql" and source.startswith("/*", j):
                    depth += 1
                    j += 2
                else:
                    j += 1
            emit(source[i:j])
            i = j
            continue
        # `$` after a letter, digit, `_` or `$` is part of an identifier (PG, MySQL)
        if ch == "$" and not (i > 0 and (source[i - 1].isalnum() or source[i - 1] in "_$")):
            m = _DOLLAR_TAG.match(source, i) if dialect == "postgresql" else None
            if m:
                end = source.find(m.group(0), m.end())
                if end < 0:
                    raise fail(i, f"unterminated {m.group(0)} quoted body")
                end += len(m.group(0))
                out.append(source[i:end])
                code.append(" ")
                i = end
                continue
            if nxt.isdigit():  # SQLite would take it as a placeholder, MySQL as an error
                raise fail(i, "positional $n placeholders are not allowed; write :name")
        if ch == "?" and dialect != "postgresql":
            raise fail(i, "'?' placeholders are not allowed; write :name")
        if ch == ":":
            if nxt == ":":
                emit("::")
                code.append("::")
                i += 2
                continue
            m = _NAME.match(source, i + 1)
            if m is not None and not (i > 0 and source[i - 1] == ":"):
                pname = m.group(0)
                if pname not in index_of:
                    index_of[pname] = len(params) + 1
                    params.append(pname)
                opening = _IN_OPEN.search(source, max(0, i - 80), i)
                closing = _IN_CLOSE.match(source, m.end()) if opening else None
                if opening and closing:
                    list_names.setdefault(pname, i)
                    i = _list_parameter(out, opening, closing, pname, index_of[pname], dialect)
                    code.append(" ? ")
                    continue
                scalar_names.setdefault(pname, i)
                if dialect == "postgresql":
                    out.append(f"${index_of[pname]}")
                elif mysql:
                    out.append(f"%({pname})s")
                else:
                    out.append(f":{pname}")
                code.append(" ? ")
                i = m.end()
                continue
        if ch == ";":
            statement_end = i
            i += 1
            continue
        emit(ch)
        code.append(ch)
        i += 1

    for pname in list_names.keys() & scalar_names.keys():
        raise fail(
            max(list_names[pname], scalar_names[pname]),
            f"parameter :{pname} is a list (IN (:{pname})) and may appear only in that form",
        )
    # The leading description lines stay in ``source``/``description`` only: drivers that
    # batch execute_many (aiomysql's multi-row INSERT, asyncpg's pipelining) recognise
    # an INSERT by the statement's first word.
    sql = _without_leading_comments("".join(out))
    code_text = "".join(code).lower()
    words = _WORD.findall(code_text)
    if not words:
        raise QueryLoadError(
            f"{path}:1: the file holds no SQL statement", query=name, path=str(path), line=1
        )
    first = words[0]
    is_write = first not in _READ_KEYWORDS and not (
        first == "with" and not _WRITE_KEYWORDS.intersection(words)
    )
    if first == "select" and "for" in words and "update" in words:
        is_write = True  # SELECT ... FOR UPDATE takes write locks
    operation = first
    if first == "with":
        operation = next((w for w in words if w in _WRITE_KEYWORDS), "select")
    prefix = query_tag(name) if tag else ""
    return Query(
        name=name,
        dialect=dialect,
        path=path,
        sql=f"{prefix} {sql}" if prefix else sql,
        tag=prefix,
        operation=operation.upper(),
        source=source,
        description=_description(source),
        custom_plan="custom-plan" in _options(source, name=name, path=path),
        params=tuple(params),
        is_write=is_write,
        _param_set=frozenset(params),
        list_params=frozenset(list_names),
    )


def _list_parameter(
    out: list[str], opening: re.Match[str], closing: re.Match[str], name: str, n: int, dialect: str
) -> int:
    """Rewrite ``[NOT] IN (:name)`` for the dialect (``out`` ends with its ``[NOT] IN (``,
    one entry per character); return where parsing goes on."""
    if dialect == "postgresql":
        del out[len(out) - len(opening.group(0)) :]
        out.append(f"<> ALL(${n})" if opening.group(1) else f"= ANY(${n})")
        return closing.end()
    if dialect == "mysql":
        del out[len(out) - len(opening.group(2)) :]
        out.append(f" %({name})s")  # the driver renders the list as (v1, v2, ...)
        return closing.end()
    out.append(f"SELECT value FROM json_each(:{name})")
    return closing.start()


def _without_leading_comments(sql: str) -> str:
    lines = sql.strip().split("\n")
    start = 0
    while start < len(lines) and (
        not lines[start].strip() or lines[start].lstrip().startswith("--")
    ):
        start += 1
    return "\n".join(lines[start:]).strip()


_OPTION_PREFIX = "rawrepo:"
_OPTIONS = frozenset({"custom-plan"})


def _leading_comments(source: str) -> Iterator[tuple[int, str]]:
    seen = False
    for number, raw in enumerate(source.splitlines(), 1):
        stripped = raw.strip()
        if not stripped and not seen:
            continue
        if not stripped.startswith("--"):
            return
        seen = True
        yield number, stripped[2:].strip()


def _options(source: str, *, name: str, path: Path) -> set[str]:
    """Options from leading ``-- rawrepo: option ...`` lines; unknown ones are errors."""
    found: set[str] = set()
    for number, text in _leading_comments(source):
        if not text.startswith(_OPTION_PREFIX):
            continue
        for option in text[len(_OPTION_PREFIX) :].split():
            if option not in _OPTIONS:
                raise QueryLoadError(
                    f"{path}:{number}: unknown rawrepo option {option!r}"
                    f" (known: {', '.join(sorted(_OPTIONS))})",
                    query=name,
                    path=str(path),
                    line=number,
                )
            found.add(option)
    return found


def _description(source: str) -> str:
    lines = [t for _, t in _leading_comments(source) if not t.startswith(_OPTION_PREFIX)]
    return " ".join(line for line in lines if line).strip()


@dataclass(frozen=True)
class QueryFile:
    """One file on disk: its query name and the dialect it is for (None: generic)."""

    name: str
    dialect: Dialect | None
    path: Path


def query_files(sql_dir: Path) -> Iterator[QueryFile]:
    """Every ``.sql`` file under ``sql_dir`` with its query name and dialect."""
    for path in sorted(sql_dir.rglob("*.sql")):
        rel = path.relative_to(sql_dir)
        parts = rel.name[: -len(".sql")].split(".")
        dialect: Dialect | None = None
        if len(parts) > 1 and parts[-1] in DIALECTS:
            dialect = parts.pop()  # type: ignore[assignment]
        if len(parts) != 1 or not _NAME.fullmatch(parts[0]) or len(rel.parts) < 2:
            raise QueryLoadError(
                f"{path}:1: a query file is <area>/<name>.sql or <area>/<name>.<dialect>.sql"
                f" with <dialect> one of {', '.join(DIALECTS)}",
                path=str(path),
                line=1,
            )
        areas = rel.parts[:-1]
        for area in areas:
            if not _NAME.fullmatch(area):
                raise QueryLoadError(
                    f"{path}:1: folder name {area!r} is not a valid query area"
                    " (letters, digits, _)",
                    path=str(path),
                    line=1,
                )
        yield QueryFile(".".join([*areas, parts[0]]), dialect, path)


class QuerySet(Mapping[str, Query]):
    """The queries of one dialect, by name. Indexing a missing name raises QueryNotFoundError."""

    def __init__(self, dialect: Dialect, queries: Mapping[str, Query], dirs: Sequence[Path]):
        self.dialect = dialect
        self._queries = dict(queries)
        self.dirs = tuple(dirs)

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise self._not_found(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def expected_path(self, name: str) -> Path:
        """Where the generic file for ``name`` would be (in the last sql dir)."""
        *areas, base = name.split(".")
        return self.dirs[-1].joinpath(*areas, f"{base}.sql")

    def _not_found(self, name: str) -> QueryNotFoundError:
        *areas, base = name.split(".") if name else ("",)
        where = self.dirs[-1].joinpath(*areas) if self.dirs else Path(".")
        return QueryNotFoundError(
            f"query {name!r} has no file for dialect {self.dialect}: expected"
            f" {where / (base + '.sql')} or {where / (base + '.' + self.dialect + '.sql')}",
            query=name,
            path=str(where / (base + ".sql")),
        )

    def require(self, names: Iterable[str]) -> None:
        """Raise QueryNotFoundError for the first name that has no query."""
        for name in names:
            if name not in self._queries:
                raise self._not_found(name)


def load_queries(
    sql_dirs: Path | str | Sequence[Path | str], dialect: Dialect, *, tags: bool = False
) -> QuerySet:
    """Load every query of ``dialect`` from one folder, or several (later ones override).
    ``tags``: each statement starts with the comment naming its query (see the module
    docstring); :class:`~rawrepo.Database` loads its queries with tags unless told not to."""
    if isinstance(sql_dirs, str | Path):
        sql_dirs = [sql_dirs]
    dirs = [Path(d) for d in sql_dirs]
    chosen: dict[str, Path] = {}
    for sql_dir in dirs:
        if not sql_dir.is_dir():
            raise QueryLoadError(f"SQL folder {sql_dir} does not exist", path=str(sql_dir))
        generic: dict[str, Path] = {}
        override: dict[str, Path] = {}
        for qf in query_files(sql_dir):
            if qf.dialect is None:
                generic[qf.name] = qf.path
            elif qf.dialect == dialect:
                override[qf.name] = qf.path
        chosen.update(generic)
        chosen.update(override)
    queries: dict[str, Query] = {}
    for name, path in chosen.items():
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise QueryLoadError(f"{path}:1: cannot read: {exc}", path=str(path), line=1) from exc
        queries[name] = parse_query(source, dialect, name=name, path=path, tag=tags)
    return QuerySet(dialect, queries, dirs)
