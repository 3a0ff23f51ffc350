"""The generic repository: CRUD, counting and bulk operations over one table.

A repository is a small typed class over the queries of one area of ``sql/``
(``sql/users/*.sql`` for ``area = "users"``). It holds no connection: every
method takes the :class:`~rawrepo.database.Session` to run in, so the session
decides the database and the dialect. Repositories know queries and models,
never a driver.

Queries a repository runs (``<area>.<name>``), declared at class creation with
:func:`~rawrepo.database.require_queries` so a Database fails at connect time
when one is missing for its dialect, and each with a
:class:`~rawrepo.contracts.QueryContract` (the parameters passed, the model the
rows map into) that every call goes through and ``rawrepo sql check`` verifies:

- ``get_by_id(id)``, ``exists(id)``, ``delete(id)``;
- ``get_multi(<filters>, limit, offset)`` and ``count(<filters>)``: one
  parameter per whitelisted filter, NULL meaning "any";
- ``create(<every column>)``: one row;
- ``bulk_create``: either the same single-row INSERT (run by ``execute_many``)
  or, where the dialect can take arrays, one parameter per column holding all
  values, named by the plural of the column (``ids``, ``titles``, ``statuses``);
- ``update(id, updated_at, set_<field>, <field> ...)``: a partial update in one
  static statement (``col = CASE WHEN :set_col THEN :col ELSE col END``),
  shared by :meth:`Repository.update` and :meth:`Repository.bulk_update`;
- ``bulk_delete``: either ``id`` (run by ``execute_many``) or ``ids`` (a list).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypeVar

from rawrepo.contracts import PAGE, QueryContract, register_contracts
from rawrepo.database import Session, require_queries
from rawrepo.errors import InvalidFilterError, QueryParameterError
from rawrepo.models.base import utc_now
from rawrepo.queries import Query

__all__ = ["CRUD_QUERIES", "MAX_LIMIT", "Repository", "check_page", "check_uuid"]

ModelT = TypeVar("ModelT", bound=BaseModel)
CreateT = TypeVar("CreateT", bound=BaseModel, default=BaseModel)
UpdateT = TypeVar("UpdateT", bound=BaseModel, default=BaseModel)

MAX_LIMIT = 1000
"""The largest page a list method returns."""

CRUD_QUERIES: tuple[str, ...] = (
    "get_by_id",
    "get_multi",
    "count",
    "create",
    "bulk_create",
    "update",
    "delete",
    "bulk_delete",
    "exists",
)
"""The query names (within a repository's area) the generic methods run."""


MAX_SKIP = 2**63 - 1  # the largest OFFSET every backend accepts
BULK_DELETE_BATCH = 10_000
"""Ids per bulk DELETE: a MySQL statement of 10,000 UUIDs is ~400 kB, far below the
smallest default max_allowed_packet (4 MB)."""


def check_page(skip: int, limit: int) -> None:
    """Raise ValueError unless ``0 <= skip <= MAX_SKIP`` and ``1 <= limit <= MAX_LIMIT``
    (both integers)."""
    if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= MAX_SKIP:
        raise ValueError(f"skip must be an integer from 0 to {MAX_SKIP}, got {skip!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")


def new_uuids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one ``os.urandom`` call: the same
    values ``uuid.uuid4()`` makes, without a system call per id."""
    data = os.urandom(16 * count)
    return [uuid.UUID(bytes=data[i : i + 16], version=4) for i in range(0, 16 * count, 16)]


def check_uuid(value: object, name: str = "id") -> uuid.UUID:
    """``value`` as a ``uuid.UUID`` (UUIDs and their text form), else ValueError naming it."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a UUID, got {value!r}")


def _plural(column: str) -> str:
    return column + ("es" if column.endswith("s") else "s")


def _filter_type(adapter: TypeAdapter[Any]) -> Any:
    # TypeAdapter keeps the type it was built for in ``_type`` (no public accessor);
    # without it the parameter's type is guessed from its name.
    inner = getattr(adapter, "_type", None)
    return Any if inner is None else inner | None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    return str(errors[0]["msg"]) if errors else str(exc)


class Repository(Generic[ModelT, CreateT, UpdateT]):
    """CRUD over one table whose primary key is a UUID ``id``.

    A concrete repository sets ``area`` (its folder in ``sql/``), ``model``
    (the row model), ``create_model``, ``update_model`` and ``filters`` (the
    whitelisted filter names, each with the type its value is validated to),
    and declares every further query it runs in ``extra_contracts`` (names
    without a contract may be listed in ``extra_queries``). It is built with
    no arguments; each call runs in the session it is given.

    The contracts of the generic methods are derived from those attributes (see
    :meth:`crud_contracts`); ``contracts`` maps each query name to its contract,
    and the generic methods pass their parameters through it.

    ``ids`` and ``created_at``/``updated_at`` are made here (uuid4, UTC now),
    so every backend stores the same values.
    """

    area: ClassVar[str]
    model: type[ModelT]
    create_model: type[CreateT]
    update_model: type[UpdateT]
    filters: ClassVar[Mapping[str, TypeAdapter[Any]]] = {}
    extra_queries: ClassVar[tuple[str, ...]] = ()
    extra_contracts: ClassVar[tuple[QueryContract, ...]] = ()
    contracts: ClassVar[Mapping[str, QueryContract]] = {}
    _rows: ClassVar[TypeAdapter[list[Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "area" in cls.__dict__:
            cls._rows = TypeAdapter(list[cls.model])  # type: ignore[name-defined]
            declared = cls.query_contracts()
            by_name: dict[str, QueryContract] = {}
            for contract in declared:
                first = by_name.setdefault(contract.name, contract)
                if first.param_sets != contract.param_sets:
                    raise TypeError(
                        f"{cls.__name__} declares {contract.name} with parameters"
                        f" {contract.describe_params()} and {first.describe_params()}"
                    )
            cls.contracts = by_name
            register_contracts(declared, owner=f"{cls.__module__}.{cls.__qualname__}")
            require_queries(cls.required_queries())

    @classmethod
    def required_queries(cls) -> list[str]:
        """Every query name this repository runs."""
        names = [f"{cls.area}.{name}" for name in CRUD_QUERIES]
        names += [*cls.extra_queries, *(c.name for c in cls.extra_contracts)]
        return list(dict.fromkeys(names))

    @classmethod
    def crud_contracts(cls) -> list[QueryContract]:
        """The contracts of the generic methods, derived from ``model``,
        ``create_model``/``update_model`` columns and ``filters``."""
        area, model = cls.area, cls.model
        key = {"id": uuid.UUID}
        filters = {name: _filter_type(adapter) for name, adapter in cls.filters.items()}
        row = {name: info.annotation for name, info in model.model_fields.items()}
        arrays = {_plural(name): list[kind] for name, kind in row.items()}  # type: ignore[valid-type]
        update: dict[str, Any] = {"id": uuid.UUID, "updated_at": dt.datetime}
        for name, info in cls.update_model.model_fields.items():
            update[f"set_{name}"] = bool
            update[name] = info.annotation
        return [
            QueryContract(f"{area}.get_by_id", key, model),
            QueryContract(f"{area}.get_multi", {**filters, **PAGE}, model),
            QueryContract(f"{area}.count", filters),
            QueryContract(f"{area}.create", row),
            QueryContract(f"{area}.bulk_create", row, variants=(arrays,)),
            QueryContract(f"{area}.update", update),
            QueryContract(f"{area}.delete", key),
            QueryContract(f"{area}.bulk_delete", key, variants=({"ids": list[uuid.UUID]},)),
            QueryContract(f"{area}.exists", key),
        ]

    @classmethod
    def query_contracts(cls) -> list[QueryContract]:
        """Every contract this repository declares: the generic ones, then ``extra_contracts``."""
        return [*cls.crud_contracts(), *cls.extra_contracts]

    def _q(self, name: str) -> str:
        return f"{self.area}.{name}"

    # -- running queries through their contracts ------------------------------------

    def _contract(self, query: Query | str) -> QueryContract:
        name = query if isinstance(query, str) else query.name
        contract = self.contracts.get(name)
        if contract is None:
            raise QueryParameterError(
                f"{type(self).__name__} declares no contract for query {name}"
                " (add a QueryContract to extra_contracts)",
                query=name,
            )
        return contract

    async def _fetch_all(
        self, session: Session, query: Query | str, /, **params: Any
    ) -> list[dict[str, Any]]:
        self._contract(query).check_call(params)
        return await session.fetch_all(query, **params)

    async def _fetch_one(
        self, session: Session, query: Query | str, /, **params: Any
    ) -> dict[str, Any] | None:
        self._contract(query).check_call(params)
        return await session.fetch_one(query, **params)

    async def _fetch_value(self, session: Session, query: Query | str, /, **params: Any) -> Any:
        self._contract(query).check_call(params)
        return await session.fetch_value(query, **params)

    async def _execute(self, session: Session, query: Query | str, /, **params: Any) -> int:
        self._contract(query).check_call(params)
        return await session.execute(query, **params)

    async def _execute_many(
        self, session: Session, query: Query | str, rows: Sequence[Mapping[str, Any]], /
    ) -> int:
        if rows:
            # Every row is built by the same code, so the first one stands for all
            # (Query.bind still checks each row against the file).
            self._contract(query).check_call(rows[0])
        return await session.execute_many(query, rows)

    async def _stream(
        self, session: Session, query: str, batch_size: int, /, **params: Any
    ) -> AsyncIterator[list[ModelT]]:
        """Rows of ``query`` as lists of at most ``batch_size`` models, read through a
        server-side cursor (see :meth:`Session.stream_batches`)."""
        self._contract(query).check_call(params)
        async for rows in session.stream_batches(query, batch_size=batch_size, **params):
            yield self._to_models(rows)

    # -- mapping -----------------------------------------------------------------

    def _to_model(self, row: Mapping[str, Any] | None) -> ModelT | None:
        return None if row is None else self.model.model_validate(row)

    def _to_models(self, rows: Sequence[Mapping[str, Any]]) -> list[ModelT]:
        return cast(list[ModelT], self._rows.validate_python(rows))

    def _new_row(self, obj_in: CreateT, now: dt.datetime) -> dict[str, Any]:
        """Every column of a new row: the input's fields, the timestamps and None for the
        other columns of the model (the caller sets ``id``). Subclasses may fill in more."""
        row: dict[str, Any] = dict.fromkeys(self.model.model_fields)
        row.update(obj_in.__dict__)  # the validated field values (model_dump copies deeper, slower)
        row.update(id=None, created_at=now, updated_at=now)
        return row

    def _update_params(self, id: uuid.UUID, obj_in: UpdateT, now: dt.datetime) -> dict[str, Any]:
        params: dict[str, Any] = {"id": id, "updated_at": now}
        for name in self.update_model.model_fields:
            params[f"set_{name}"] = name in obj_in.model_fields_set
            params[name] = getattr(obj_in, name)
        return params

    def _filter_params(self, filters: Mapping[str, Any] | None) -> dict[str, Any]:
        params: dict[str, Any] = dict.fromkeys(self.filters)
        if filters is None:
            return params
        if not isinstance(filters, Mapping):
            raise InvalidFilterError(
                f"filters must be a mapping of column to value, got {type(filters).__name__}"
            )
        allowed = ", ".join(sorted(self.filters)) or "none"
        for key, value in filters.items():
            adapter = self.filters.get(key) if isinstance(key, str) else None
            if adapter is None:
                raise InvalidFilterError(
                    f"cannot filter {self.area} by {key!r}; allowed filters: {allowed}"
                )
            if value is None:
                continue  # None means "any", as if the filter were not given
            try:
                params[key] = adapter.validate_python(value)
            except ValidationError as exc:
                raise InvalidFilterError(
                    f"filter {key!r} has an invalid value {value!r}: {_first_error(exc)}"
                ) from None
        return params

    def _as_create(self, obj_in: CreateT | Mapping[str, Any]) -> CreateT:
        if isinstance(obj_in, self.create_model):
            return obj_in
        return self.create_model.model_validate(obj_in)

    def _as_update(self, obj_in: UpdateT | Mapping[str, Any]) -> UpdateT:
        if isinstance(obj_in, self.update_model):
            return obj_in
        return self.update_model.model_validate(obj_in)

    # -- reads -------------------------------------------------------------------

    async def get(self, session: Session, id: uuid.UUID) -> ModelT | None:
        """The row with this id, or None."""
        row = await self._fetch_one(session, self._q("get_by_id"), id=check_uuid(id))
        return self._to_model(row)

    async def get_multi(
        self,
        session: Session,
        skip: int = 0,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
    ) -> list[ModelT]:
        """A page of rows ordered by ``created_at`` then ``id``.

        ``limit`` is 1..1000 and ``skip`` >= 0 (else ValueError). ``filters`` maps
        whitelisted names (see ``filters``) to values, which are validated to the
        column's type first; anything else raises InvalidFilterError.
        """
        check_page(skip, limit)
        params = self._filter_params(filters)
        rows = await self._fetch_all(
            session, self._q("get_multi"), limit=limit, offset=skip, **params
        )
        return self._to_models(rows)

    async def count(self, session: Session, filters: Mapping[str, Any] | None = None) -> int:
        """The number of rows matching ``filters`` (as for :meth:`get_multi`)."""
        params = self._filter_params(filters)
        return int(await self._fetch_value(session, self._q("count"), **params))

    async def exists(self, session: Session, id: uuid.UUID) -> bool:
        """Whether a row with this id exists."""
        return bool(await self._fetch_value(session, self._q("exists"), id=check_uuid(id)))

    # -- writes ------------------------------------------------------------------

    async def create(self, session: Session, obj_in: CreateT) -> ModelT:
        """Insert one row and return it (one round trip)."""
        row = self._new_row(self._as_create(obj_in), utc_now())
        row["id"] = uuid.uuid4()
        await self._execute(session, self._q("create"), **row)
        return self.model.model_validate(row)

    async def update(self, session: Session, db_obj: ModelT, obj_in: UpdateT) -> ModelT | None:
        """Apply the fields set in ``obj_in`` to ``db_obj``'s row and move ``updated_at``;
        return the row as now stored, or None if it no longer exists."""
        return await self.update_by_id(session, cast(Any, db_obj).id, obj_in)

    async def update_by_id(self, session: Session, id: uuid.UUID, obj_in: UpdateT) -> ModelT | None:
        """:meth:`update` for a row known by its id."""
        key = check_uuid(id)
        params = self._update_params(key, self._as_update(obj_in), utc_now())
        if not await self._execute(session, self._q("update"), **params):
            return None
        return await self.get(session, key)

    async def delete(self, session: Session, id: uuid.UUID) -> bool:
        """Delete the row; True if it existed."""
        return bool(await self._execute(session, self._q("delete"), id=check_uuid(id)))

    async def bulk_create(self, session: Session, objs_in: Sequence[CreateT]) -> list[ModelT]:
        """Insert many rows in as few round trips as the dialect allows (one on
        PostgreSQL); return them in input order. Each row's ``created_at`` is one
        microsecond after the previous one's, so listings keep the input order."""
        objs = [self._as_create(o) for o in objs_in]
        if not objs:
            return []
        now = utc_now()
        step = dt.timedelta(microseconds=1)
        rows = [self._new_row(obj, now + i * step) for i, obj in enumerate(objs)]
        for row, new_id in zip(rows, new_uuids(len(rows)), strict=True):
            row["id"] = new_id
        query = session.query(self._q("bulk_create"))
        if "ids" in query.params:
            columns = {_plural(c): [r[c] for r in rows] for c in rows[0]}
            await self._execute(session, query, **columns)
        else:
            await self._execute_many(session, query, rows)
        return self._to_models(rows)

    async def bulk_update(
        self, session: Session, updates: Sequence[tuple[uuid.UUID, UpdateT]]
    ) -> int:
        """Apply each ``(id, changes)`` pair (only the fields set in each); return the
        number of rows updated (an id that does not exist counts 0)."""
        if not updates:
            return 0
        now = utc_now()
        params = [
            self._update_params(check_uuid(id), self._as_update(obj_in), now)
            for id, obj_in in updates
        ]
        return await self._execute_many(session, self._q("update"), params)

    async def bulk_delete(self, session: Session, ids: Iterable[uuid.UUID]) -> int:
        """Delete the rows with these ids; return how many existed. One statement per
        ``BULK_DELETE_BATCH`` ids when the query takes a list (``WHERE id IN (:ids)``, as
        the bundled ones do), else a batch of single-row deletes (``WHERE id = :id``)."""
        keys = [check_uuid(i) for i in ids]
        if not keys:
            return 0
        query = session.query(self._q("bulk_delete"))
        if "ids" in query.params:
            deleted = 0
            for start in range(0, len(keys), BULK_DELETE_BATCH):
                batch = keys[start : start + BULK_DELETE_BATCH]
                deleted += await self._execute(session, query, ids=batch)
            return deleted
        return await self._execute_many(session, query, [{"id": k} for k in keys])
