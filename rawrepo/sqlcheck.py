"""Tools for DBAs: list every query, check them all against a live database,
and print the database's plan for any of them.

``check`` changes no data. On PostgreSQL each statement is prepared and
described by the server (parameter and result types, and the nullability of
result columns that come straight from a table); on MySQL and SQLite it runs
inside a transaction that is always rolled back, with parameters bound to
typed placeholder values (MySQL schema statements are not run, as MySQL would
commit them). Then every query that a repository maps into a model is checked
against its :class:`~rawrepo.contracts.QueryContract`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from rawrepo.config import DIALECTS, Dialect
from rawrepo.contracts import (
    QueryContract,
    contract_for,
    placeholder_values,
    registered_contracts,
    unwrap,
)
from rawrepo.database import Database
from rawrepo.drivers.base import Column, QueryDescription
from rawrepo.errors import (
    DatabaseError,
    DataError,
    IntegrityError,
    QueryError,
    QueryNotFoundError,
    TransientError,
)
from rawrepo.queries import BUNDLED_SQL_DIR, Query, load_queries

__all__ = [
    "CheckReport",
    "QueryCheck",
    "QueryInfo",
    "check_queries",
    "explain_query",
    "list_queries",
    "load_contract_modules",
]

DEFAULT_MODULES = ("rawrepo.repositories",)


def load_contract_modules(modules: Iterable[str] = ()) -> None:
    """Import the modules whose repositories register query contracts."""
    for module in (*DEFAULT_MODULES, *modules):
        importlib.import_module(module)


def _dirs(sql_dirs: Sequence[str | Path]) -> list[Path]:
    return [BUNDLED_SQL_DIR, *(Path(d) for d in sql_dirs)]


@dataclass(frozen=True)
class QueryInfo:
    """One query as ``rawrepo sql list`` shows it."""

    name: str
    files: dict[Dialect, str]
    description: str
    params: tuple[str, ...]


def list_queries(
    sql_dirs: Sequence[str | Path] = (), dialect: Dialect | None = None
) -> list[QueryInfo]:
    """Every query with the file each dialect resolves to, its description and parameters."""
    dialects = [dialect] if dialect else list(DIALECTS)
    loaded = {d: load_queries(_dirs(sql_dirs), d) for d in dialects}
    names = sorted({name for qs in loaded.values() for name in qs})
    infos = []
    for name in names:
        files = {d: str(loaded[d][name].path) for d in dialects if name in loaded[d]}
        first = next(loaded[d][name] for d in dialects if name in loaded[d])
        infos.append(QueryInfo(name, files, first.description, first.params))
    return infos


@dataclass
class QueryCheck:
    """The outcome for one query. ``problems`` is empty when it passed."""

    name: str
    path: str
    problems: list[str] = field(default_factory=list)
    position: int | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class CheckReport:
    dialect: str
    url: str
    queries: list[QueryCheck]

    @property
    def failed(self) -> list[QueryCheck]:
        return [q for q in self.queries if not q.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "url": self.url,
            "ok": self.ok,
            "summary": {
                "total": len(self.queries),
                "ok": len(self.queries) - len(self.failed),
                "failed": len(self.failed),
            },
            "queries": [{**asdict(q), "ok": q.ok} for q in self.queries],
        }


async def check_queries(
    url: str | None = None,
    *,
    sql_dirs: Sequence[str | Path] = (),
    modules: Iterable[str] = (),
) -> CheckReport:
    """Check every query of the URL's dialect against the live database."""
    load_contract_modules(modules)
    db = Database(url, pool_size=1, max_overflow=0)
    queries = load_queries(_dirs(sql_dirs), db.dialect)
    contracts = registered_contracts()
    items: list[tuple[Query, dict[str, Any]]] = []
    for name in sorted(queries):
        query = queries[name]
        items.append((query, placeholder_values(query.params, contract_for(name))))
    described = await db.driver.describe([(q, q.bind(args)) for q, args in items])
    results = []
    for (query, _), outcome in zip(items, described, strict=True):
        result = QueryCheck(query.name, str(query.path))
        if isinstance(outcome, IntegrityError | DataError | TransientError):
            # The statement compiled and ran; the placeholder values broke a rule.
            result.note = "ran with placeholder values; result columns not described"
        elif isinstance(outcome, DatabaseError):
            result.problems.append(f"{query.path}: {outcome.message}")
            result.position = outcome.position
        else:
            result.note = outcome.note
            for contract in contracts.get(query.name, []):
                result.problems.extend(_contract_problems(query, contract, outcome, db.dialect))
        results.append(result)
    for name in sorted(set(contracts) - set(queries)):
        missing = QueryCheck(name, str(queries.expected_path(name)))
        missing.problems.append(
            f"{queries.expected_path(name)}: a repository needs query {name!r}, but no file"
            f" defines it for {db.dialect}"
        )
        results.append(missing)
    return CheckReport(db.dialect, str(db.url), results)


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


def _accepts(column_type: str, annotation: Any) -> bool:
    allowed = _PG_TYPES.get(column_type)
    if allowed is None or not isinstance(annotation, type):
        return True  # a type rawrepo does not know: nothing to say
    if issubclass(annotation, Enum):
        annotation = str if issubclass(annotation, str) else int
    if annotation is int and bool in allowed:
        return False
    return any(issubclass(annotation, a) or (a is int and annotation is float) for a in allowed)


def _contract_problems(
    query: Query, contract: QueryContract, described: QueryDescription, dialect: str
) -> list[str]:
    problems = []
    declared, used = set(contract.params), set(query.params)
    for name in sorted(used - declared):
        problems.append(
            f"{query.path}: parameter :{name} is never passed by the repository"
            f" (it passes: {', '.join(sorted(declared)) or 'nothing'})"
        )
    for name in sorted(declared - used):
        problems.append(
            f"{query.path}: the repository passes :{name}, which the query does not use"
        )
    model = contract.model
    if model is None or (not described.columns and described.note):
        return problems
    columns: dict[str, Column] = {c.name: c for c in described.columns}
    for fname, info in model.model_fields.items():
        if fname in contract.exclude_fields:
            continue
        column = columns.get(fname)
        if column is None:
            if info.is_required():
                problems.append(
                    f"{query.path}: result lacks column {fname!r} needed by field"
                    f" {model.__name__}.{fname}"
                )
            continue
        inner, optional = unwrap(info.annotation)
        if dialect == "postgresql" and column.type and not _accepts(column.type, inner):
            problems.append(
                f"{query.path}: column {fname!r} is {column.type}, which does not fit"
                f" field {model.__name__}.{fname} ({getattr(inner, '__name__', inner)})"
            )
        if column.nullable and not optional:
            problems.append(
                f"{query.path}: column {fname!r} may be NULL but field"
                f" {model.__name__}.{fname} is not optional"
            )
    return problems


def coerce_param(name: str, text: str, contract: QueryContract | None) -> Any:
    """Turn a ``--param key=value`` string into the declared type (or a guess)."""
    from rawrepo.contracts import placeholder_value

    sample = placeholder_value(name, contract.params.get(name) if contract else None)
    try:
        if text.lower() in ("null", "none"):
            return None
        if isinstance(sample, bool):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(sample, int):
            return int(text)
        if isinstance(sample, float):
            return float(text)
        if isinstance(sample, uuid.UUID):
            return uuid.UUID(text)
        if isinstance(sample, dt.datetime):
            value = dt.datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(sample, list):
            return [coerce_param(name, part, None) for part in text.split(",") if part]
    except ValueError as exc:
        raise QueryError(f"--param {name}={text!r}: {exc}", query=None) from None
    return text


async def explain_query(
    url: str | None,
    names: Sequence[str] | None,
    *,
    params: dict[str, str] | None = None,
    sql_dirs: Sequence[str | Path] = (),
    modules: Iterable[str] = (),
) -> list[tuple[Query, list[str]]]:
    """The database's plan for each named query (all of them when ``names`` is None).
    ``params`` are given as text and converted to each parameter's declared type;
    parameters not given get typed placeholder values."""
    load_contract_modules(modules)
    db = Database(url, pool_size=1, max_overflow=0, sql_dir=list(sql_dirs))
    queries = load_queries(_dirs(sql_dirs), db.dialect)
    given = params or {}
    chosen = sorted(queries) if names is None else list(names)
    for name in chosen:
        if name not in queries:
            raise QueryNotFoundError(f"no query named {name!r} for {db.dialect}", query=name)
    plans = []
    async with db.create_session() as session:
        for name in chosen:
            query = queries[name]
            contract = contract_for(name)
            values = placeholder_values(query.params, contract)
            for key, text in given.items():
                if key in values:
                    values[key] = coerce_param(key, text, contract)
            unknown = sorted(set(given) - set(query.params)) if names is not None else []
            if unknown:
                raise QueryError(
                    f"query {name} has no parameter {unknown[0]!r}"
                    f" (its parameters: {', '.join(query.params) or 'none'})",
                    query=name,
                )
            plans.append((query, await session.connection.explain(query, query.bind(values))))
    await db.disconnect()
    return plans
