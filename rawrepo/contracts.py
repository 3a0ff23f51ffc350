"""Query contracts: what the Python side expects of each query it runs.

A repository declares, for every query it calls, the parameters it passes
(with their Python types) and the model its rows map into. At run time the
repository binds exactly those names (:meth:`QueryContract.check_call`), and
``rawrepo sql check`` verifies each contract against the live database: the
query's parameters are exactly one of the declared parameter sets, its result
columns cover the model's fields, and on PostgreSQL their types and
nullability fit.
"""

from __future__ import annotations

import datetime as dt
import types
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from rawrepo.errors import QueryParameterError

__all__ = [
    "PAGE",
    "QueryContract",
    "coerce_value",
    "contract_for",
    "guess_type",
    "placeholder_value",
    "placeholder_values",
    "register_contracts",
    "registered_contracts",
    "unwrap",
]

PAGE: Mapping[str, Any] = {"limit": int, "offset": int}
"""The paging parameters every list query takes."""


@dataclass(frozen=True)
class QueryContract:
    """One query as a repository uses it.

    ``params`` maps each parameter the repository passes to its Python type;
    ``variants`` are alternative parameter sets for a query whose form depends
    on the dialect's file (e.g. per-column arrays ``ids``, ``titles`` on
    PostgreSQL, one row's ``id``, ``title`` elsewhere): a call, and the file,
    must match ``params`` or one variant exactly. ``model`` is the pydantic model
    the rows are validated into (None for statements whose result is not
    mapped); ``exclude_fields`` names model fields filled from elsewhere (e.g.
    ``UserWithTasks.tasks``).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    model: type[BaseModel] | None = None
    exclude_fields: frozenset[str] = frozenset()
    variants: tuple[Mapping[str, Any], ...] = ()
    names: frozenset[str] = field(init=False, repr=False, compare=False)
    param_sets: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "variants", tuple(dict(v) for v in self.variants))
        object.__setattr__(self, "exclude_fields", frozenset(self.exclude_fields))
        object.__setattr__(self, "names", frozenset(self.params))
        sets = (self.names, *(frozenset(v) for v in self.variants))
        object.__setattr__(self, "param_sets", sets)
        if self.model is not None:
            unknown = sorted(self.exclude_fields - set(self.model.model_fields))
            if unknown:
                raise ValueError(
                    f"contract {self.name}: exclude_fields names {unknown[0]!r},"
                    f" which is not a field of {self.model.__name__}"
                )

    def check_call(self, passed: Collection[str]) -> None:
        """Raise QueryParameterError unless ``passed`` (names, or a mapping of them) is
        exactly the declared set or one declared variant. Cheap: one set comparison."""
        names = frozenset(passed)
        if names == self.names or (self.variants and names in self.param_sets):
            return
        declared = self.params_closest_to(names)
        extra = sorted(names - declared)
        missing = sorted(declared - names)
        what = f"undeclared parameter {extra[0]!r}" if extra else f"no value for {missing[0]!r}"
        raise QueryParameterError(
            f"call of {self.name} does not match its contract: {what}"
            f" (declared: {self.describe_params()})",
            query=self.name,
            parameter=(extra or missing)[0],
        )

    def params_for(self, names: Iterable[str]) -> Mapping[str, Any] | None:
        """The declared parameter set (``params`` or a variant) whose names are ``names``."""
        wanted = frozenset(names)
        for candidate in (self.params, *self.variants):
            if frozenset(candidate) == wanted:
                return candidate
        return None

    def params_closest_to(self, names: frozenset[str]) -> frozenset[str]:
        """The declared name set that differs least from ``names`` (for messages)."""
        return min(self.param_sets, key=lambda s: len(s ^ names))

    def param_types(self) -> dict[str, Any]:
        """Every declared parameter's type, over ``params`` and all variants."""
        merged: dict[str, Any] = {}
        for candidate in (*self.variants, self.params):
            merged.update(candidate)
        return merged

    def describe_params(self) -> str:
        """The declared parameter sets as text: ``id, limit`` or ``id | ids``."""
        return " | ".join(", ".join(sorted(s)) or "none" for s in self.param_sets)


_REGISTRY: dict[str, list[tuple[str, QueryContract]]] = {}


def register_contracts(contracts: Iterable[QueryContract], *, owner: str = "") -> None:
    """Record contracts for ``rawrepo sql check`` (repositories do this when defined).

    ``owner`` is the dotted name of the class that declares them (its module decides
    whether ``check`` looks at them; see :func:`registered_contracts`).
    """
    for contract in contracts:
        known = _REGISTRY.setdefault(contract.name, [])
        if all(c != contract for _, c in known):
            known.append((owner, contract))


def _owned_by(owner: str, modules: Collection[str] | None) -> bool:
    if modules is None:
        return True
    return any(owner == m or owner.startswith(m + ".") for m in modules)


def registered_contracts(modules: Collection[str] | None = None) -> dict[str, list[QueryContract]]:
    """Every registered contract, by query name (a query may serve several models).

    With ``modules``, only contracts declared by classes in those modules (or their
    submodules): a repository defined elsewhere, e.g. inside a test, is left out.
    """
    found: dict[str, list[QueryContract]] = {}
    for name, items in _REGISTRY.items():
        chosen = [c for owner, c in items if _owned_by(owner, modules)]
        if chosen:
            found[name] = chosen
    return found


def contract_for(name: str) -> QueryContract | None:
    """The first contract registered for a query name, if any."""
    items = _REGISTRY.get(name)
    return items[0][1] if items else None


def unwrap(annotation: Any) -> tuple[Any, bool]:
    """``(inner type, optional)`` for ``X``, ``X | None``, ``Annotated[X, ...]``.
    A union of several types gives ``Any``."""
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


def _element(annotation: Any) -> Any | None:
    """The element type of ``list[X]``-like annotations, else None."""
    if get_origin(annotation) in (list, tuple, set, frozenset):
        args = get_args(annotation)
        return args[0] if args else str
    return None


def placeholder_value(name: str, annotation: Any = None) -> Any:
    """A harmless typed value for parameter ``name`` (for describe/explain runs).

    ``annotation`` is the declared type; without one the type is guessed from the
    name (``id``/``*_id``: UUID, ``*_at``: datetime, ``limit``/``offset``: int, ...).
    """
    if annotation is None:
        annotation = guess_type(name)
    inner, _ = unwrap(annotation)
    element = _element(inner)
    if element is not None:
        return [placeholder_value(name, element)]
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


def placeholder_values(
    names: Iterable[str],
    contract: QueryContract | None,
    guesses: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Typed placeholder values for every name: the contract's declared type where it
    has one, else ``guesses`` (e.g. from the server's parameter types), else a guess
    from the name."""
    names = list(names)
    declared: Mapping[str, Any] = {}
    if contract is not None:
        declared = contract.params_for(names) or contract.param_types()
    guessed = guesses or {}
    return {n: placeholder_value(n, declared.get(n, guessed.get(n))) for n in names}


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def coerce_value(name: str, text: str, annotation: Any = None) -> Any:
    """Turn a command-line ``name=text`` into the declared type (or the name's guess).

    ``null``/``none`` give None; lists are comma-separated. Raises ValueError naming
    the parameter when ``text`` does not fit the type.
    """
    if text.lower() in ("null", "none"):
        return None
    if annotation is None:
        annotation = guess_type(name)
    inner, _ = unwrap(annotation)
    element = _element(inner)
    if element is not None:
        return [coerce_value(name, part.strip(), element) for part in text.split(",") if part]
    if not isinstance(inner, type):
        return text
    try:
        if issubclass(inner, Enum):
            for member in inner:
                if text in (str(member.value), member.name):
                    return member.value
            allowed = ", ".join(str(m.value) for m in inner)
            raise ValueError(f"not one of {allowed}")
        if issubclass(inner, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError("not a boolean (true/false)")
        if issubclass(inner, int):
            return int(text)
        if issubclass(inner, Decimal):
            return Decimal(text)
        if issubclass(inner, float):
            return float(text)
        if issubclass(inner, uuid.UUID):
            return uuid.UUID(text)
        if issubclass(inner, dt.datetime):
            value = dt.datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if issubclass(inner, dt.date):
            return dt.date.fromisoformat(text)
    except (ValueError, ArithmeticError) as exc:
        kind = getattr(inner, "__name__", str(inner))
        raise ValueError(f"parameter {name}={text!r} is not a valid {kind}: {exc}") from None
    return text


def guess_type(name: str) -> Any:
    """The likely type of an undeclared parameter, from its name."""
    if name == "id" or name.endswith("_id"):
        return uuid.UUID
    if name == "ids" or name.endswith("_ids"):
        return list[uuid.UUID]
    if name.endswith("_at"):
        return dt.datetime
    if name.endswith("_ats"):
        return list[dt.datetime]
    if name in ("limit", "skip", "offset") or name.endswith("_count"):
        return int
    if name.startswith(("set_", "is_", "has_")):
        return bool
    return str
