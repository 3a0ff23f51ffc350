"""Query contracts: what the Python side expects of each query it runs.

A repository declares, for every query it calls, the parameters it passes
(with their Python types) and the model its rows map into. At run time the
repository binds exactly those names (:meth:`QueryContract.check_call`), and
``rawrepo sql check`` verifies each contract against the live database: the
query's parameters are exactly the declared ones, its result columns cover
the model's fields, and on PostgreSQL their types and nullability fit.
"""

from __future__ import annotations

import datetime as dt
import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from rawrepo.errors import QueryParameterError

__all__ = [
    "QueryContract",
    "contract_for",
    "placeholder_value",
    "placeholder_values",
    "register_contracts",
    "registered_contracts",
]


@dataclass(frozen=True)
class QueryContract:
    """One query as a repository uses it.

    ``params`` maps each parameter the repository passes to its Python type;
    ``model`` is the pydantic model the rows are validated into (None for
    statements whose result is not mapped); ``exclude_fields`` names model
    fields filled from elsewhere (e.g. ``UserWithTasks.tasks``).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    model: type[BaseModel] | None = None
    exclude_fields: frozenset[str] = frozenset()
    names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(self.params))

    def check_call(self, passed: Iterable[str]) -> None:
        """Raise QueryParameterError unless ``passed`` is exactly the declared set."""
        names = frozenset(passed)
        declared = self.names
        if names == declared:
            return
        extra = sorted(names - declared)
        missing = sorted(declared - names)
        what = f"undeclared parameter {extra[0]!r}" if extra else f"no value for {missing[0]!r}"
        raise QueryParameterError(
            f"call of {self.name} does not match its contract: {what}"
            f" (declared: {', '.join(sorted(declared)) or 'none'})",
            query=self.name,
            parameter=(extra or missing)[0],
        )


_REGISTRY: dict[str, list[QueryContract]] = {}


def register_contracts(contracts: Iterable[QueryContract]) -> None:
    """Record contracts for ``rawrepo sql check`` (repositories do this when defined)."""
    for contract in contracts:
        known = _REGISTRY.setdefault(contract.name, [])
        if contract not in known:
            known.append(contract)


def registered_contracts() -> dict[str, list[QueryContract]]:
    """Every registered contract, by query name (a query may serve several models)."""
    return {name: list(items) for name, items in _REGISTRY.items()}


def contract_for(name: str) -> QueryContract | None:
    """The first contract registered for a query name, if any."""
    items = _REGISTRY.get(name)
    return items[0] if items else None


def unwrap(annotation: Any) -> tuple[Any, bool]:
    """``(inner type, optional)`` for ``X``, ``X | None``, ``Annotated[X, ...]``."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            annotation = args[0] if len(args) == 1 else Any
            continue
        return annotation, optional


def placeholder_value(name: str, annotation: Any = None) -> Any:
    """A harmless typed value for parameter ``name`` (for describe/explain runs)."""
    if annotation is None:
        annotation = _guess_type(name)
    inner, _ = unwrap(annotation)
    if get_origin(inner) in (list, tuple, set, frozenset):
        args = get_args(inner)
        return [placeholder_value(name, args[0] if args else str)]
    if isinstance(inner, type):
        if issubclass(inner, Enum):
            return next(iter(inner)).value
        if issubclass(inner, bool):
            return False
        if issubclass(inner, int):
            return 0 if name in ("skip", "offset") else 1
        if issubclass(inner, float | Decimal):
            return 0.0
        if issubclass(inner, uuid.UUID):
            return uuid.UUID(int=0)
        if issubclass(inner, dt.datetime):
            return dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        if issubclass(inner, dt.date):
            return dt.date(2000, 1, 1)
        if issubclass(inner, bytes):
            return b""
    return "x"


def placeholder_values(names: Iterable[str], contract: QueryContract | None) -> dict[str, Any]:
    """Typed placeholder values for every name, from the contract where it declares one."""
    declared = contract.params if contract is not None else {}
    return {n: placeholder_value(n, declared.get(n)) for n in names}


def _guess_type(name: str) -> Any:
    if name == "id" or name.endswith("_id"):
        return uuid.UUID
    if name == "ids" or name.endswith("_ids"):
        return list[uuid.UUID]
    if name.endswith("_at"):
        return dt.datetime
    if name in ("limit", "skip", "offset") or name.endswith("_count"):
        return int
    if name.startswith(("set_", "is_", "has_")):
        return bool
    return str
