"""``rawrepo sql stats``: the server's own statement statistics, per query file.

PostgreSQL counts statements in ``pg_stat_statements``, MySQL/MariaDB in
``performance_schema.events_statements_summary_by_digest``. Each entry is
mapped back to the query file that owns it:

1. by its query tag, ``/* rawrepo:<name> */`` at the start of the statement
   (see :mod:`rawrepo.queries`). ``pg_stat_statements`` keeps the text as sent,
   tag included. MySQL/MariaDB drop comments from a digest's text, so there the
   tag is read from the statement history (``events_statements_history_long`` and
   ``events_statements_history``, which keep the text as sent), when those
   consumers are on;
2. else by its normalized text: literals, placeholders and ``IN``/``VALUES`` lists
   reduced the way the server reduces them, compared with each file's statement.
   This maps MySQL digests whose statements left the history, and statements
   run with tags off.

An entry that maps to no file is reported as SQL no file owns (rawrepo's own
BEGIN/COMMIT among them); files of the dialect that no entry maps to are the
files never run. The statistics are the server's since its last reset, for the
URL's database only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rawrepo.config import Dialect
from rawrepo.database import Database
from rawrepo.errors import ConfigurationError
from rawrepo.queries import Query, QuerySet, load_queries, tag_of

__all__ = [
    "ADMIN_SQL_DIR",
    "FileStats",
    "StatementStats",
    "StatsReport",
    "collect_stats",
    "normalize_statement",
]

ADMIN_SQL_DIR = Path(__file__).resolve().parent / "admin_sql"
"""rawrepo's own queries of the server's statistics (not application queries)."""

MatchedBy = Literal["tag", "text"]


@dataclass(frozen=True)
class StatementStats:
    """One entry of the server's statistics."""

    text: str
    """The statement as the server shows it (PostgreSQL: as sent with constants
    replaced by ``$n``; MySQL: the digest text)."""
    calls: int
    total_ms: float
    rows: int
    queries: tuple[str, ...] = ()
    """The query files it maps to: one, several whose statements the server counts as
    one, or none."""
    matched_by: MatchedBy | None = None

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "rows": self.rows,
            "queries": list(self.queries),
            "matched_by": self.matched_by,
        }


@dataclass(frozen=True)
class FileStats:
    """What the server counted for one query file (all its entries summed), or for a
    group of files whose statements it cannot tell apart (then ``name`` is their
    names joined by `` | `` and ``names`` lists them)."""

    name: str
    path: str
    calls: int
    total_ms: float
    rows: int
    statements: int
    """How many server entries map to the file (e.g. one per multi-row INSERT size)."""
    names: tuple[str, ...] = ()
    matched_by: tuple[MatchedBy, ...] = ()
    """How its entries were found: by ``tag``, by normalized ``text``, or both."""

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "names": list(self.names),
            "matched_by": list(self.matched_by),
            "path": self.path,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "rows": self.rows,
            "statements": self.statements,
        }


@dataclass
class StatsReport:
    """``rawrepo sql stats`` for one database."""

    dialect: Dialect
    url: str
    """The database URL, password masked."""
    source: str
    """``pg_stat_statements`` or ``performance_schema``."""
    files: list[FileStats]
    """Files that ran, by total time, largest first."""
    unowned: list[StatementStats]
    """Entries no file owns, by total time, largest first."""
    never_run: list[tuple[str, str]]
    """(name, path) of each file no entry maps to, by name."""
    notes: list[str] = field(default_factory=list)
    """What limits the mapping (e.g. the statement history is off)."""

    def file(self, name: str) -> FileStats:
        """The stats of one query file, or of the group it is counted in (KeyError if it
        never ran)."""
        for stats in self.files:
            if name in stats.names:
                return stats
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "url": self.url,
            "source": self.source,
            "files": [f.to_dict() for f in self.files],
            "unowned": [s.to_dict() for s in self.unowned],
            "never_run": [{"name": n, "path": p} for n, p in self.never_run],
            "notes": list(self.notes),
        }

    def lines(self, limit: int = 20) -> list[str]:
        """The report as text: the files, then at most ``limit`` unowned statements,
        then the files never run."""
        out = [f"{self.source} on {self.url}"]
        out += [f"note: {note}" for note in self.notes]
        width = max([len(f.name) for f in self.files] + [5])
        head = f"{'calls':>9} {'total ms':>12} {'mean ms':>10} {'rows':>10}"
        out.append("")
        out.append(f"{'query':<{width}} {head}  file")
        for f in self.files:
            out.append(
                f"{f.name:<{width}} {f.calls:>9} {f.total_ms:>12.1f} {f.mean_ms:>10.3f}"
                f" {f.rows:>10}  {f.path}"
            )
        shown = self.unowned[:limit]
        out.append("")
        more = f", the {len(shown)} slowest in total" if len(shown) < len(self.unowned) else ""
        out.append(f"SQL no file owns: {len(self.unowned)} statement(s){more}")
        if shown:
            out.append(f"{head}  statement")
            for s in shown:
                text = " ".join(s.text.split())
                text = text if len(text) <= 100 else text[:97] + "..."
                out.append(
                    f"{s.calls:>9} {s.total_ms:>12.1f} {s.mean_ms:>10.3f} {s.rows:>10}  {text}"
                )
        out.append("")
        out.append(f"files never run: {len(self.never_run)}")
        out += [f"  {name}  {path}" for name, path in self.never_run]
        return out


# -- normalization ----------------------------------------------------------------------

_TOKENS: dict[Dialect, re.Pattern[str]] = {}
_OPERATORS = r"<=>|<=|>=|<>|!=|\|\||::|->>|->|&&|<<|>>|\.\.\."
_COMMON = (
    r"(?P<skip>\s+|--[^\n]*|/\*.*?\*/)"
    r"|(?P<param>\$\d+|%\(\w+\)s|%s|\?|(?<!:):[A-Za-z_]\w*)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)


def _tokenizer(dialect: Dialect) -> re.Pattern[str]:
    if dialect not in _TOKENS:
        if dialect == "mysql":
            strings = r"(?P<str>[bBxXnN]?'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\")"
            idents = r"(?P<ident>`(?:[^`]|``)*`)"
            skip_hash = r"|(?P<hash>\#[^\n]*)"
        else:
            strings = r"(?P<str>[eE]'(?:[^'\\]|\\.|'')*'|[bBxXnNuU]?&?'(?:[^']|'')*')"
            idents = r"(?P<ident>\"(?:[^\"]|\"\")*\")"
            skip_hash = ""
        _TOKENS[dialect] = re.compile(
            _COMMON
            + skip_hash
            + "|"
            + strings
            + "|"
            + idents
            + r"|(?P<word>[A-Za-z_][\w$]*)"
            + f"|(?P<op>{_OPERATORS})"
            + r"|(?P<ch>.)",
            re.S,
        )
    return _TOKENS[dialect]


_VALUES = frozenset({"NULL", "TRUE", "FALSE"})
_BEFORE_UNARY = frozenset(
    {"=", "<", ">", "<=", ">=", "<>", "!=", "(", ",", "*", "/", "+", "-", "SELECT", "WHERE",
     "AND", "OR", "NOT", "LIMIT", "OFFSET", "THEN", "ELSE", "WHEN", "BETWEEN", "IS", "LIKE",
     "VALUES", "SET", "BY"}
)  # fmt: skip
_LIST = "(?)"
TRUNCATED = "..."


def normalize_statement(text: str, dialect: Dialect) -> tuple[str, ...]:
    """``text`` as a tuple of tokens that a statement and its server-side
    normalization (a MySQL digest, a pg_stat_statements entry) share: comments
    dropped, keywords and identifiers upper-cased (quotes removed), every literal and
    placeholder ``?``, a parenthesized list of them ``(?)``. A MySQL digest cut at
    ``max_digest_length`` ends with the token ``...``."""
    tokens: list[str] = []
    for m in _tokenizer(dialect).finditer(text):
        kind = m.lastgroup
        if kind in ("skip", "hash"):
            continue
        value = m.group()
        if kind in ("param", "num", "str"):
            tokens.append("?")
        elif kind == "ident":
            tokens.append(value[1:-1].upper())
        elif kind == "word":
            upper = value.upper()
            tokens.append("?" if upper in _VALUES else upper)
        else:
            tokens.append(value)
    return _collapse(tokens)


def _collapse(tokens: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        signed = tok in ("-", "+") and i + 1 < n and tokens[i + 1] == "?"
        if signed and (not out or out[-1] in _BEFORE_UNARY):
            i += 1  # a signed value is one value (MySQL digests say "- ?")
            continue
        if tok == "(":
            j = i + 1
            while j < n and tokens[j] in ("?", ",", TRUNCATED):
                j += 1
            if j > i + 1 and j < n and tokens[j] == ")":
                out.append(_LIST)
                i = j + 1
                continue
        out.append(tok)
        i += 1
    while out and out[-1] == ";":
        out.pop()
    return tuple(out)


def _statement_text(query: Query) -> str:
    body = query.body
    return body.replace("%%", "%") if query.dialect == "mysql" else body


class _Matcher:
    """Maps server entries to query files: by tag, else by normalized text.

    Files whose statements normalize alike (``users.create`` and ``users.bulk_create``
    on MySQL, say) are one entry to the server, which counts them together: such an
    entry maps to all of them, as one group."""

    def __init__(self, queries: QuerySet) -> None:
        self.dialect = queries.dialect
        by_text: dict[tuple[str, ...], list[str]] = {}
        for name in sorted(queries):
            key = normalize_statement(_statement_text(queries[name]), self.dialect)
            by_text.setdefault(key, []).append(name)
        self.by_text = {key: tuple(names) for key, names in by_text.items()}
        self.group_of = {name: names for names in self.by_text.values() for name in names}

    def match(
        self, text: str, tags: Iterable[str] = ()
    ) -> tuple[tuple[str, ...], MatchedBy | None]:
        """The names of the files that own the entry (empty: none) and how they were found."""
        own = tag_of(text)
        known = {t for t in (*tags, *([own] if own else [])) if t in self.group_of}
        if known:
            return tuple(sorted({n for t in known for n in self.group_of[t]})), "tag"
        key = normalize_statement(text, self.dialect)
        found: Iterable[str] = self.by_text.get(key, ())
        if not found and key and key[-1] == TRUNCATED:
            prefix = key[:-2]  # the token before "..." may be cut short too
            found = {
                n for k, names in self.by_text.items() if k[: len(prefix)] == prefix for n in names
            }
        names = tuple(sorted(found))
        return names, "text" if names else None


# -- collection ---------------------------------------------------------------------------


def _admin_queries(dialect: Dialect) -> QuerySet:
    return load_queries(ADMIN_SQL_DIR, dialect, tags=True)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value) if isinstance(value, Decimal | int | float) else float(str(value))


def _yes(value: Any) -> bool:
    return str(value).upper() in ("YES", "1", "TRUE", "ON")


_PG_ENABLE = (
    "pg_stat_statements is not loaded by the server: add it to shared_preload_libraries"
    " (ALTER SYSTEM SET shared_preload_libraries = '{libraries}';), restart PostgreSQL,"
    " then run CREATE EXTENSION pg_stat_statements; in this database"
)
_PG_CREATE = (
    "pg_stat_statements is loaded but not created in this database: run"
    " CREATE EXTENSION pg_stat_statements; in it (as a superuser or the database owner)"
)
_MY_ENABLE = (
    "performance_schema is OFF: it cannot be turned on at runtime; set performance_schema=ON"
    " in the [mysqld] section of the server's configuration (my.cnf) and restart the server"
)
_MY_CONSUMERS = (
    "performance_schema does not collect statement digests: run UPDATE"
    " performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME IN"
    " ('global_instrumentation', 'statements_digest');"
)
_MY_HISTORY = (
    "the statement history is off, so statements are mapped to files by their normalized"
    " text only; to map them by their query tags too, run UPDATE"
    " performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME IN"
    " ('events_statements_current', 'events_statements_history_long');"
)


async def collect_stats(
    url: str | None = None, *, sql_dirs: Sequence[str | Path] = ()
) -> StatsReport:
    """Read the server's statement statistics for the URL's database and map them to
    the query files (bundled ones and ``sql_dirs``). Raises ConfigurationError, with
    the commands that enable it, when the server does not collect them (and for
    SQLite, which keeps none)."""
    db = Database(url, pool_size=1, max_overflow=0, sql_dir=list(sql_dirs))
    if db.dialect == "sqlite":
        raise ConfigurationError(
            "SQLite keeps no statement statistics; rawrepo sql stats reads PostgreSQL's"
            " pg_stat_statements and MySQL/MariaDB's performance_schema",
            variable="DATABASE_URL",
            hint="for SQLite, log slow statements with SQL_SLOW_MS or trace them with"
            " OpenTelemetry (SQL_TRACING)",
        )
    admin = _admin_queries(db.dialect)
    notes: list[str] = []
    tags: dict[str, set[str]] = {}
    try:
        async with db.session() as session:
            status = await session.fetch_one(admin["rawrepo_stats.status"]) or {}
            if db.dialect == "postgresql":
                source = "pg_stat_statements"
                if not status.get("loaded"):
                    loaded = [x.strip() for x in str(status.get("preload") or "").split(",")]
                    libraries = ", ".join([*(x for x in loaded if x), "pg_stat_statements"])
                    raise ConfigurationError(
                        _PG_ENABLE.format(libraries=libraries),
                        hint="then rerun rawrepo sql stats",
                    )
                if not status.get("created"):
                    raise ConfigurationError(_PG_CREATE, hint="then rerun rawrepo sql stats")
                if status.get("track") == "none":
                    notes.append(
                        "pg_stat_statements.track is 'none': nothing is counted;"
                        " ALTER SYSTEM SET pg_stat_statements.track = 'top'; SELECT"
                        " pg_reload_conf();"
                    )
            else:
                source = "performance_schema"
                if not _yes(status.get("enabled")):
                    raise ConfigurationError(_MY_ENABLE, hint="then rerun rawrepo sql stats")
                if not (
                    _yes(status.get("global_instrumentation"))
                    and _yes(status.get("statements_digest"))
                ):
                    raise ConfigurationError(_MY_CONSUMERS, hint="then rerun rawrepo sql stats")
                if not (
                    _yes(status.get("events_statements_current"))
                    and _yes(status.get("events_statements_history_long"))
                ):
                    notes.append(_MY_HISTORY)
                for row in await session.fetch_all(admin["rawrepo_stats.history"]):
                    tag = tag_of(str(row["sql_text"] or ""))
                    if row["digest"] and tag is not None:
                        tags.setdefault(str(row["digest"]), set()).add(tag)
            rows = await session.fetch_all(admin["rawrepo_stats.statements"])
        queries = db.queries
    finally:
        await db.disconnect()
    return _report(db.dialect, str(db.url), source, queries, admin, rows, tags, notes)


def _report(
    dialect: Dialect,
    url: str,
    source: str,
    queries: QuerySet,
    own: QuerySet,
    rows: Iterable[Mapping[str, Any]],
    tags: Mapping[str, set[str]],
    notes: list[str],
) -> StatsReport:
    matcher, own_matcher = _Matcher(queries), _Matcher(own)
    per_group: dict[tuple[str, ...], list[StatementStats]] = {}
    unowned: list[StatementStats] = []
    for row in rows:
        text = str(row["text"] or "")
        found = tags.get(str(row.get("digest") or ""), set())
        if own_matcher.match(text, found)[0]:
            continue  # rawrepo sql stats' own statements
        names, how = matcher.match(text, found)
        entry = StatementStats(
            text=text,
            calls=int(_number(row["calls"])),
            total_ms=_number(row["total_ms"]),
            rows=int(_number(row["row_count"])),
            queries=names,
            matched_by=how,
        )
        if names:
            per_group.setdefault(names, []).append(entry)
        else:
            unowned.append(entry)
    files = [
        FileStats(
            name=" | ".join(names),
            path=" | ".join(str(queries[n].path) for n in names),
            calls=sum(e.calls for e in entries),
            total_ms=sum(e.total_ms for e in entries),
            rows=sum(e.rows for e in entries),
            statements=len(entries),
            names=names,
            matched_by=tuple(sorted({e.matched_by for e in entries if e.matched_by})),
        )
        for names, entries in per_group.items()
    ]
    files.sort(key=lambda f: (-f.total_ms, f.name))
    unowned.sort(key=lambda s: (-s.total_ms, s.text))
    ran = {n for names in per_group for n in names}
    never = [(n, str(queries[n].path)) for n in sorted(queries) if n not in ran]
    return StatsReport(dialect, url, source, files, unowned, never, notes)
