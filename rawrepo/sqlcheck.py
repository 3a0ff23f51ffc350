"""Tools for DBAs: list every query, check them all against a live database,
and print the database's plan for any of them.

``check`` changes no data. On PostgreSQL each statement is prepared and
described by the server (parameter and result types, and the nullability of
result columns that come straight from a table); on MySQL and SQLite it runs
inside a transaction that is always rolled back, with parameters bound to
typed placeholder values (MySQL schema statements are not run, as MySQL would
commit them). Then every query a repository declares a
:class:`~rawrepo.contracts.QueryContract` for is checked against it: its
parameters are exactly the ones the repository passes, and its result columns
cover the model's fields (with compatible types on PostgreSQL, and no NULLs for
non-optional fields where the server says).
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from rawrepo.config import DIALECTS, Dialect
from rawrepo.contracts import (
    QueryContract,
    coerce_value,
    placeholder_values,
    registered_contracts,
    unwrap,
)
from rawrepo.database import Database
from rawrepo.drivers.base import Column, QueryDescription
from rawrepo.errors import (
    ConfigurationError,
    ConnectionFailed,
    DatabaseError,
    DataError,
    IntegrityError,
    QueryError,
    QueryNotFoundError,
    TransientError,
)
from rawrepo.queries import BUNDLED_SQL_DIR, Query, QuerySet, load_queries

__all__ = [
    "DEFAULT_MODULES",
    "NULLABILITY_CHECKED",
    "TYPES_CHECKED",
    "CheckReport",
    "QueryCheck",
    "QueryFileInfo",
    "QueryInfo",
    "check_queries",
    "explain_query",
    "list_queries",
    "load_contract_modules",
]

DEFAULT_MODULES: tuple[str, ...] = ("rawrepo.repositories",)
"""Modules whose repositories' contracts ``check`` always verifies."""

TYPES_CHECKED: frozenset[Dialect] = frozenset({"postgresql"})
"""Dialects whose server reports result and parameter types that ``check`` compares."""

NULLABILITY_CHECKED: frozenset[Dialect] = frozenset({"postgresql", "mysql"})
"""Dialects whose server says whether a result column may be NULL (PostgreSQL: for
columns taken straight from a table; MySQL: for every column). SQLite cannot tell."""


_RUNS_STATEMENTS: frozenset[Dialect] = frozenset({"mysql", "sqlite"})
"""Dialects whose check runs each statement (PostgreSQL only prepares it)."""


def load_contract_modules(modules: Iterable[str] = ()) -> tuple[str, ...]:
    """Import the modules whose repositories register query contracts; return all
    of them (``DEFAULT_MODULES`` first)."""
    names = tuple(dict.fromkeys((*DEFAULT_MODULES, *modules)))
    for module in names:
        importlib.import_module(module)
    return names


def _dirs(sql_dirs: Sequence[str | Path]) -> list[Path]:
    return [BUNDLED_SQL_DIR, *(Path(d) for d in sql_dirs)]


# -- list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryFileInfo:
    """The file one dialect resolves a query to."""

    file: str
    override: bool
    """True for a ``<name>.<dialect>.sql`` file."""
    description: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class QueryInfo:
    """One query as ``rawrepo sql list`` shows it.

    ``description`` and ``params`` are those of the generic file (or of the only
    dialect asked for); ``dialects`` has each dialect's resolved file.
    """

    name: str
    description: str
    params: tuple[str, ...]
    dialects: dict[Dialect, QueryFileInfo]

    @property
    def files(self) -> dict[Dialect, str]:
        """The resolved file of each dialect."""
        return {d: info.file for d, info in self.dialects.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, description, params, files, overrides, dialects (and, for
        one dialect, its ``dialect`` and ``file``)."""
        data: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "params": list(self.params),
            "files": self.files,
            "overrides": [d for d, info in self.dialects.items() if info.override],
            "dialects": {
                d: {
                    "file": i.file,
                    "override": i.override,
                    "description": i.description,
                    "params": list(i.params),
                }
                for d, i in self.dialects.items()
            },
        }
        if len(self.dialects) == 1:
            ((dialect, info),) = self.dialects.items()
            data["dialect"] = dialect
            data["file"] = info.file
        return data


def list_queries(
    sql_dirs: Sequence[str | Path] = (), dialect: Dialect | None = None
) -> list[QueryInfo]:
    """Every query with the file each dialect (or ``dialect``) resolves to, its
    description and its parameters, sorted by name."""
    dialects = [dialect] if dialect else list(DIALECTS)
    loaded = {d: load_queries(_dirs(sql_dirs), d) for d in dialects}
    infos = []
    for name in sorted({name for qs in loaded.values() for name in qs}):
        per: dict[Dialect, QueryFileInfo] = {}
        for d in dialects:
            if name in loaded[d]:
                q = loaded[d][name]
                override = q.path.name.endswith(f".{d}.sql")
                per[d] = QueryFileInfo(str(q.path), override, q.description, q.params)
        main = next((i for i in per.values() if not i.override), next(iter(per.values())))
        infos.append(QueryInfo(name, main.description, main.params, per))
    return infos


# -- check ----------------------------------------------------------------------------


@dataclass
class QueryCheck:
    """The outcome for one query. ``problems`` is empty when it passed."""

    name: str
    path: str
    problems: list[str] = field(default_factory=list)
    position: int | None = None
    """The server's 1-based character position in the statement (the file without
    its leading comment lines; a query tag is not counted), where it gives one."""
    line: int | None = None
    """The file's line that ``position`` falls on."""
    note: str | None = None
    models: list[str] = field(default_factory=list)
    """The models whose fields the result was checked against."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "ok": self.ok,
            "problems": list(self.problems),
            "position": self.position,
            "line": self.line,
            "note": self.note,
            "models": list(self.models),
        }

    def line_text(self) -> str:
        """``ok    name`` or ``FAIL  name: <file>: <problems> (position N)``."""
        if self.ok:
            return f"ok    {self.name}" + (f"  ({self.note})" if self.note else "")
        where = f" (position {self.position})" if self.position else ""
        return f"FAIL  {self.name}: {self.path}: {'; '.join(self.problems)}{where}"


@dataclass
class CheckReport:
    """Every query's outcome on one database."""

    dialect: Dialect
    url: str
    """The database URL, password masked."""
    queries: list[QueryCheck]

    @property
    def failed(self) -> list[QueryCheck]:
        return [q for q in self.queries if not q.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def result(self, name: str) -> QueryCheck:
        """The outcome for one query name (KeyError if it was not checked)."""
        for q in self.queries:
            if q.name == name:
                return q
        raise KeyError(name)

    def summary(self) -> str:
        """``27 queries checked on postgresql: 26 ok, 1 failed``."""
        total, failed = len(self.queries), len(self.failed)
        return f"{total} queries checked on {self.dialect}: {total - failed} ok, {failed} failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "url": self.url,
            "ok": self.ok,
            "checks": {
                "types": self.dialect in TYPES_CHECKED,
                "nullability": self.dialect in NULLABILITY_CHECKED,
            },
            "summary": {
                "total": len(self.queries),
                "ok": len(self.queries) - len(self.failed),
                "failed": len(self.failed),
            },
            "queries": [q.to_dict() for q in self.queries],
        }


def _contracts_by_name(
    contracts: Iterable[QueryContract] | None, modules: Collection[str]
) -> dict[str, list[QueryContract]]:
    if contracts is None:
        return registered_contracts(modules)
    grouped: dict[str, list[QueryContract]] = {}
    for contract in contracts:
        known = grouped.setdefault(contract.name, [])
        if contract not in known:
            known.append(contract)
    return grouped


def _database(url: str | None, sql_dirs: Sequence[str | Path]) -> Database:
    db = Database(url, pool_size=1, max_overflow=0, sql_dir=list(sql_dirs))
    path = db.settings.sqlite_path()
    if path is not None and not path.is_file():
        # Connecting would create an empty database file.
        raise ConfigurationError(
            f"SQLite database {path} does not exist",
            variable="DATABASE_URL",
            hint="create it with: rawrepo migrate apply --url ...",
        )
    return db


async def check_queries(
    url: str | None = None,
    *,
    sql_dirs: Sequence[str | Path] = (),
    modules: Iterable[str] = (),
    contracts: Iterable[QueryContract] | None = None,
) -> CheckReport:
    """Check every query of the URL's dialect against the live (migrated) database,
    changing no data.

    ``sql_dirs`` add folders of queries over the bundled ones (later ones win).
    The contracts checked are ``contracts`` if given, else those registered by
    repositories in :data:`DEFAULT_MODULES` and ``modules`` (imported first).
    """
    loaded_modules = load_contract_modules(modules)
    by_name = _contracts_by_name(contracts, loaded_modules)
    db = _database(url, sql_dirs)
    queries = load_queries(db.sql_dirs, db.dialect, tags=db.settings.query_tags)
    chosen = [queries[name] for name in sorted(queries)]
    args = []
    for query in chosen:
        contract = _first(by_name, query.name)
        args.append(query.bind(_listed(query, placeholder_values(query.params, contract))))
    described = await db.driver.describe(list(zip(chosen, args, strict=True)))
    results = [
        _check_one(query, outcome, by_name.get(query.name, []), db.dialect)
        for query, outcome in zip(chosen, described, strict=True)
    ]
    for name in sorted(set(by_name) - set(queries)):
        missing = QueryCheck(name, str(queries.expected_path(name)))
        missing.problems.append(
            f"a repository runs query {name!r}, but no file defines it for {db.dialect}"
        )
        results.append(missing)
    results.sort(key=lambda r: r.name)
    return CheckReport(db.dialect, str(db.url), results)


def _listed(query: Query, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the placeholder of each list parameter (``IN (:ids)``) in a list."""
    for name in query.list_params:
        if not isinstance(values.get(name), list):
            values[name] = [values.get(name)]
    return values


def _first(by_name: Mapping[str, Sequence[QueryContract]], name: str) -> QueryContract | None:
    found = by_name.get(name)
    return found[0] if found else None


def _check_one(
    query: Query,
    outcome: QueryDescription | DatabaseError,
    contracts: Sequence[QueryContract],
    dialect: Dialect,
) -> QueryCheck:
    result = QueryCheck(query.name, str(query.path))
    described: QueryDescription | None = None
    if (
        dialect in _RUNS_STATEMENTS
        and isinstance(outcome, IntegrityError | DataError | TransientError)
        and not isinstance(outcome, ConnectionFailed)  # ConnectionLost is transient too
    ):
        # The server compiled and ran the statement; the placeholder values broke a rule.
        result.note = (
            f"ran with placeholder values, which the database refused"
            f" ({_message(outcome, query)}); result columns not checked"
        )
    elif isinstance(outcome, DatabaseError):
        # The SQL itself is wrong; the parameters can still be held to the contract.
        result.problems.append(_message(outcome, query))
        result.position = _body_position(query, outcome.position)
        result.line = _line_of(query, result.position)
    else:
        described = outcome
        result.note = outcome.note
    for contract in contracts:
        result.problems.extend(_param_problems(query, contract, described, dialect))
        if contract.model is not None:
            result.models.append(contract.model.__name__)
            if described is not None and not (described.note and not described.columns):
                result.problems.extend(_column_problems(contract, described, dialect))
    result.problems = list(dict.fromkeys(result.problems))  # contracts alike say it once
    return result


def _message(error: DatabaseError, query: Query) -> str:
    text = error.message.removesuffix(f" [query {query.name}]")
    return f"{text} (hint: {error.hint})" if error.hint else text


def _body_position(query: Query, position: int | None) -> int | None:
    """A 1-based position in the statement as sent, counted from after its query tag
    (so it points into the statement as the file has it)."""
    if not position or not query.tag:
        return position
    return max(position - len(query.tag) - 1, 1)


def _line_of(query: Query, position: int | None) -> int | None:
    """The file line of a 1-based character position in the statement (without its tag)."""
    if not position:
        return None
    skipped = 0  # the leading comment and blank lines the loader strips
    for line in query.source.split("\n"):
        if line.strip() and not line.lstrip().startswith("--"):
            break
        skipped += 1
    return skipped + query.body.count("\n", 0, position - 1) + 1


def _type_name(annotation: Any) -> str:
    return str(getattr(annotation, "__name__", annotation))


def _param_problems(
    query: Query,
    contract: QueryContract,
    described: QueryDescription | None,
    dialect: Dialect,
) -> list[str]:
    used = frozenset(query.params)
    if used in contract.param_sets:
        declared = contract.params_for(used) or {}
        return _param_type_problems(query, declared, described, dialect)
    closest = contract.params_closest_to(used)
    passes = contract.describe_params()
    problems = [
        f"parameter :{name} is never passed by the repository (it passes: {passes})"
        for name in query.params
        if name not in closest
    ]
    problems += [
        f"the repository passes :{name}, which the query does not use"
        for name in sorted(closest - used)
    ]
    return problems


# What a PostgreSQL type holds, as the Python types a model field or parameter may have.
_PG_TYPES: dict[str, tuple[type, ...]] = {
    "uuid": (uuid.UUID,),
    "text": (str,),
    "character varying": (str,),
    "character": (str,),
    "name": (str,),
    "citext": (str,),
    "smallint": (int,),
    "integer": (int,),
    "bigint": (int,),
    "numeric": (Decimal, float, int),
    "real": (float,),
    "double precision": (float,),
    "boolean": (bool,),
    "timestamp with time zone": (dt.datetime,),
    "timestamp without time zone": (dt.datetime,),
    "date": (dt.date,),
    "bytea": (bytes,),
}


def _fits(pg_type: str, annotation: Any) -> bool:
    """Whether values of ``annotation`` and of PostgreSQL ``pg_type`` are the same kind.
    Types rawrepo does not know (and unions) pass: there is nothing to say."""
    inner, _ = unwrap(annotation)
    if pg_type.endswith("[]"):
        args = getattr(inner, "__args__", None)
        if getattr(inner, "__origin__", None) not in (list, tuple, set, frozenset) or not args:
            return not isinstance(inner, type)
        return _fits(pg_type[:-2], args[0])
    allowed = _PG_TYPES.get(pg_type)
    if allowed is None or not isinstance(inner, type):
        return True
    if issubclass(inner, Enum):
        inner = str if issubclass(inner, str) else int if issubclass(inner, int) else inner
    if issubclass(inner, bool) and bool not in allowed:
        return False  # a bool is an int to Python, not to the database
    if inner is int and bool in allowed:
        return False
    return issubclass(inner, allowed)


def _param_type_problems(
    query: Query,
    declared: Mapping[str, Any],
    described: QueryDescription | None,
    dialect: Dialect,
) -> list[str]:
    if dialect not in TYPES_CHECKED or described is None or described.parameter_types is None:
        return []
    problems = []
    for name, pg_type in zip(query.params, described.parameter_types, strict=False):
        kind = declared.get(name)
        if kind is not None and not _fits(pg_type, kind):
            problems.append(
                f"parameter :{name} is {pg_type} to the database, but the repository"
                f" passes {_type_name(unwrap(kind)[0])}"
            )
    return problems


def _column_problems(
    contract: QueryContract, described: QueryDescription, dialect: Dialect
) -> list[str]:
    model = contract.model
    if model is None:
        return []
    problems = []
    columns: dict[str, Column] = {}
    for described_column in described.columns:
        name = described_column.name
        if name in columns and name in model.model_fields:
            problems.append(f"result has two columns named {name!r}")
        columns.setdefault(name, described_column)
    for fname, info in model.model_fields.items():
        if fname in contract.exclude_fields:
            continue
        column = columns.get(fname)
        if column is None:
            problems.append(f"result has no column {fname!r} for field {model.__name__}.{fname}")
            continue
        inner, optional = unwrap(info.annotation)
        if dialect in TYPES_CHECKED and column.type and not _fits(column.type, inner):
            problems.append(
                f"column {fname!r} is {column.type}, which does not fit field"
                f" {model.__name__}.{fname} ({_type_name(inner)})"
            )
        if dialect in NULLABILITY_CHECKED and column.nullable and not optional:
            problems.append(
                f"column {fname!r} may be NULL, but field {model.__name__}.{fname} is not optional"
            )
    return problems


# -- explain --------------------------------------------------------------------------

_PY_TYPES: dict[str, Any] = {
    "uuid": uuid.UUID,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "numeric": Decimal,
    "real": float,
    "double precision": float,
    "boolean": bool,
    "timestamp with time zone": dt.datetime,
    "timestamp without time zone": dt.datetime,
    "date": dt.date,
    "bytea": bytes,
}


def _python_type(server_type: str) -> Any:
    if server_type.endswith("[]"):
        return list[_python_type(server_type[:-2])]  # type: ignore[misc]
    return _PY_TYPES.get(server_type, str)


async def _server_param_types(db: Database, chosen: Sequence[Query]) -> list[dict[str, Any]]:
    """Each query's parameter types as the server infers them (PostgreSQL only)."""
    if db.dialect not in TYPES_CHECKED:
        return [{} for _ in chosen]
    described = await db.driver.describe([(q, ()) for q in chosen])
    found = []
    for query, outcome in zip(chosen, described, strict=True):
        types = getattr(outcome, "parameter_types", None) or ()
        found.append({n: _python_type(t) for n, t in zip(query.params, types, strict=False)})
    return found


async def explain_query(
    url: str | None,
    names: Sequence[str] | None,
    *,
    params: Mapping[str, str] | None = None,
    sql_dirs: Sequence[str | Path] = (),
    modules: Iterable[str] = (),
) -> list[tuple[Query, list[str]]]:
    """The database's plan for each named query (every query when ``names`` is None):
    ``EXPLAIN`` on PostgreSQL and MySQL, ``EXPLAIN QUERY PLAN`` on SQLite, in a
    transaction that is rolled back.

    ``params`` are given as text and converted to each parameter's declared type (or
    the server's, or a guess from the name); parameters not given get typed
    placeholder values. An unknown query or parameter name raises QueryError.
    """
    loaded_modules = load_contract_modules(modules)
    by_name = registered_contracts(loaded_modules)
    db = _database(url, sql_dirs)
    queries = load_queries(db.sql_dirs, db.dialect, tags=db.settings.query_tags)
    chosen = [queries[n] for n in sorted(queries)] if names is None else []
    for name in names or ():
        if name not in queries:
            raise _unknown_query(name, queries)
        chosen.append(queries[name])
    given = dict(params or {})
    used = {p for q in chosen for p in q.params}
    unknown = sorted(set(given) - used)
    if unknown:
        what = chosen[0].name if len(chosen) == 1 else "any query"
        its = ", ".join(chosen[0].params) if len(chosen) == 1 else ""
        raise QueryError(
            f"{what} has no parameter {unknown[0]!r}"
            + (f" (its parameters: {its or 'none'})" if len(chosen) == 1 else ""),
            query=chosen[0].name if len(chosen) == 1 else None,
        )
    server_types = await _server_param_types(db, chosen)
    bound = []
    for query, guesses in zip(chosen, server_types, strict=True):
        contract = _first(by_name, query.name)
        values = placeholder_values(query.params, contract, guesses)
        declared = contract.param_types() if contract is not None else {}
        values = _listed(query, values)
        for key, text in given.items():
            if key in values:
                annotation = declared.get(key, guesses.get(key))
                if key in query.list_params and not isinstance(values[key], list):
                    annotation = list[annotation or str]  # type: ignore[misc]
                try:
                    values[key] = coerce_value(key, text, annotation)
                except ValueError as exc:
                    raise QueryError(f"{query.name}: {exc}", query=query.name) from None
        bound.append((query, query.bind(values)))
    conn = await db.driver.connect(db.connect_timeout)
    plans = []
    try:
        await conn.begin()
        try:
            for query, args in bound:
                plans.append((query, await conn.explain(query, args)))
        finally:
            await conn.rollback()
    finally:
        await conn.close()
    return plans


def _unknown_query(name: str, queries: QuerySet) -> QueryNotFoundError:
    close = difflib.get_close_matches(name, list(queries), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "rawrepo sql list shows them all"
    return QueryNotFoundError(
        f"no query named {name!r} for {queries.dialect}", query=name, hint=hint
    )
