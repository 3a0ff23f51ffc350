"""``TaskRepository``: tasks by user, status and title, and conditional status moves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Collection
from typing import Any, ClassVar

from pydantic import TypeAdapter

from rawrepo.contracts import PAGE, QueryContract
from rawrepo.database import Session
from rawrepo.errors import RawRepoError
from rawrepo.models import Task, TaskCreate, TaskStatus, TaskUpdate, UUIDValue
from rawrepo.models.base import check_text, utc_now
from rawrepo.models.task import check_idempotency_key
from rawrepo.repository import Repository, check_page, check_uuid

__all__ = ["TaskRepository", "escape_like", "fold_case"]

_STATUS_SLOTS = 4  # set_status.sql takes :expected_1 .. :expected_4
_EXPECTED = {f"expected_{i}": TaskStatus for i in range(1, _STATUS_SLOTS + 1)}


def escape_like(term: str, escape: str = "\\") -> str:
    """``term`` with LIKE's ``%``, ``_`` and the escape character escaped, so each
    matches itself in a ``LIKE ... ESCAPE '\\'`` pattern."""
    return (
        term.replace(escape, escape + escape).replace("%", escape + "%").replace("_", escape + "_")
    )


def fold_case(text: str) -> str:
    """``text`` case-folded as the title search compares it: Python's ``str.casefold``
    (Unicode full case folding: ``Straße`` and ``STRASSE`` fold alike, ``İ`` folds to
    ``i`` with a combining dot), the same on every backend because rawrepo, not the
    database, does it. Tasks store it in ``title_folded``."""
    return text.casefold()


# The queries that write title_folded, and the parameters they take for it.
_FOLDED = {
    "tasks.create_idempotent": {},
    "tasks.create": {},
    "tasks.bulk_create": {"title_foldeds": list[str]},
    "tasks.update": {},
}


def _status(value: TaskStatus | str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in TaskStatus)
        raise ValueError(f"status must be one of {allowed}, got {value!r}") from None


class TaskRepository(Repository[Task, TaskCreate, TaskUpdate]):
    """Tasks (``sql/tasks``). Every list is ordered by ``created_at`` then ``id`` and
    takes keyword ``skip`` (>= 0) and ``limit`` (1..1000).

    Filters for :meth:`get_multi` / :meth:`count`: ``status``, ``user_id``.
    """

    area = "tasks"
    model = Task
    create_model = TaskCreate
    update_model = TaskUpdate
    filters: ClassVar[dict[str, TypeAdapter[Any]]] = {
        "status": TypeAdapter(TaskStatus),
        "user_id": TypeAdapter(UUIDValue),
    }
    # Its contract is the one of tasks.create (see crud_contracts).
    extra_queries = ("tasks.create_idempotent",)
    extra_contracts = (
        QueryContract("tasks.get_by_user", {"user_id": uuid.UUID, **PAGE}, Task),
        QueryContract("tasks.get_all_by_user", {"user_id": uuid.UUID}, Task),
        QueryContract("tasks.get_by_status", {"status": TaskStatus, **PAGE}, Task),
        QueryContract(
            "tasks.get_by_user_and_status",
            {"user_id": uuid.UUID, "status": TaskStatus, **PAGE},
            Task,
        ),
        QueryContract("tasks.search_by_title", {"pattern": str, **PAGE}, Task),
        QueryContract(
            "tasks.get_by_idempotency_key", {"user_id": uuid.UUID, "idempotency_key": str}, Task
        ),
        QueryContract("tasks.stream_all", {}, Task),
        QueryContract("tasks.stream_by_user", {"user_id": uuid.UUID}, Task),
        QueryContract(
            "tasks.set_status",
            {
                "id": uuid.UUID,
                "new_status": TaskStatus,
                "completed_at": dt.datetime | None,
                "updated_at": dt.datetime,
                **_EXPECTED,
            },
        ),
    )

    @classmethod
    def crud_contracts(cls) -> list[QueryContract]:
        """The generic contracts, with ``title_folded`` where a query writes the title,
        and ``tasks.create_idempotent`` (the columns of ``tasks.create``)."""
        contracts = super().crud_contracts()
        create = next(c for c in contracts if c.name == "tasks.create")
        contracts.append(dataclasses.replace(create, name="tasks.create_idempotent"))
        for i, contract in enumerate(contracts):
            arrays = _FOLDED.get(contract.name)
            if arrays is not None:
                contracts[i] = dataclasses.replace(
                    contract,
                    params={**contract.params, "title_folded": str},
                    variants=tuple({**v, **arrays} for v in contract.variants),
                )
        return contracts

    def _new_row(self, obj_in: TaskCreate, now: dt.datetime) -> dict[str, Any]:
        row = super()._new_row(obj_in, now)
        row["title_folded"] = fold_case(obj_in.title)
        if obj_in.status is TaskStatus.COMPLETED:
            row["completed_at"] = now
        return row

    def _update_params(self, id: uuid.UUID, obj_in: TaskUpdate, now: dt.datetime) -> dict[str, Any]:
        params = super()._update_params(id, obj_in, now)
        title = params["title"]
        params["title_folded"] = None if title is None else fold_case(title)
        return params

    async def create_idempotent(self, session: Session, obj_in: TaskCreate) -> tuple[Task, bool]:
        """Create the task unless its user already has one with ``obj_in.idempotency_key``
        (which must be set): ``(task, True)`` for the new task, ``(existing, False)`` for
        the one already stored, whatever its fields. One INSERT that does nothing on a
        duplicate key (``ON CONFLICT ... DO NOTHING``; MySQL ``ON DUPLICATE KEY UPDATE
        id = id``), so a concurrent create of the same key neither fails nor aborts the
        transaction, then one read by the key. Any other error (e.g. ForeignKeyViolation
        for an unknown user) is raised as from :meth:`create`."""
        data = self._as_create(obj_in)
        if data.idempotency_key is None:
            raise ValueError("create_idempotent needs a TaskCreate with an idempotency_key")
        key, user_id = data.idempotency_key, data.user_id
        for _ in range(3):
            row = self._new_row(data, utc_now())
            row["id"] = uuid.uuid4()
            await self._execute(session, "tasks.create_idempotent", **row)
            stored = await self.get_by_idempotency_key(session, user_id, key)
            if stored is not None:
                return stored, stored.id == row["id"]
            # The task holding the key was deleted between the INSERT and the read
            # (by another transaction): the key is free again, so insert once more.
        raise RawRepoError(
            f"the task of user {user_id} with idempotency_key {key!r} kept being deleted"
            " while it was created: retry"
        )

    async def get_by_idempotency_key(
        self, session: Session, user_id: uuid.UUID, idempotency_key: str
    ) -> Task | None:
        """The task ``user_id`` created with ``idempotency_key``, or None (keys are
        unique per user, compared exactly)."""
        row = await self._fetch_one(
            session,
            "tasks.get_by_idempotency_key",
            user_id=check_uuid(user_id, "user_id"),
            idempotency_key=check_idempotency_key(idempotency_key),
        )
        return self._to_model(row)

    async def _page(
        self, session: Session, query: str, skip: int, limit: int, **params: Any
    ) -> list[Task]:
        check_page(skip, limit)
        rows = await self._fetch_all(session, query, limit=limit, offset=skip, **params)
        return self._to_models(rows)

    async def get_by_user(
        self, session: Session, user_id: uuid.UUID, *, skip: int = 0, limit: int = 100
    ) -> list[Task]:
        """A page of one user's tasks."""
        uid = check_uuid(user_id, "user_id")
        return await self._page(session, "tasks.get_by_user", skip, limit, user_id=uid)

    async def get_by_status(
        self, session: Session, status: TaskStatus | str, *, skip: int = 0, limit: int = 100
    ) -> list[Task]:
        """A page of the tasks in one status."""
        return await self._page(session, "tasks.get_by_status", skip, limit, status=_status(status))

    async def get_pending_tasks(
        self, session: Session, *, skip: int = 0, limit: int = 100
    ) -> list[Task]:
        """A page of the pending tasks."""
        return await self.get_by_status(session, TaskStatus.PENDING, skip=skip, limit=limit)

    async def get_in_progress_tasks(
        self, session: Session, *, skip: int = 0, limit: int = 100
    ) -> list[Task]:
        """A page of the tasks in progress."""
        return await self.get_by_status(session, TaskStatus.IN_PROGRESS, skip=skip, limit=limit)

    async def get_completed_tasks(
        self, session: Session, *, skip: int = 0, limit: int = 100
    ) -> list[Task]:
        """A page of the completed tasks."""
        return await self.get_by_status(session, TaskStatus.COMPLETED, skip=skip, limit=limit)

    async def get_user_tasks_by_status(
        self,
        session: Session,
        user_id: uuid.UUID,
        status: TaskStatus | str,
        *,
        skip: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        """A page of one user's tasks in one status."""
        uid = check_uuid(user_id, "user_id")
        return await self._page(
            session,
            "tasks.get_by_user_and_status",
            skip,
            limit,
            user_id=uid,
            status=_status(status),
        )

    async def search_by_title(
        self, session: Session, search_term: str, *, skip: int = 0, limit: int = 100
    ) -> list[Task]:
        """A page of the tasks whose title contains ``search_term``, ignoring case: the
        :func:`fold_case` of the title contains that of the term, the same rows on every
        backend; ``%``, ``_`` and ``\\`` match themselves."""
        pattern = f"%{escape_like(fold_case(check_text(search_term)))}%"
        return await self._page(session, "tasks.search_by_title", skip, limit, pattern=pattern)

    def stream_all(self, session: Session, *, batch_size: int = 1000) -> AsyncIterator[list[Task]]:
        """Every task, oldest first, as lists of at most ``batch_size`` models, read
        through a server-side cursor: memory stays bounded however many there are."""
        return self._stream(session, "tasks.stream_all", batch_size)

    def stream_by_user(
        self, session: Session, user_id: uuid.UUID, *, batch_size: int = 1000
    ) -> AsyncIterator[list[Task]]:
        """Every task of one user, oldest first, in batches; see :meth:`stream_all`."""
        uid = check_uuid(user_id, "user_id")
        return self._stream(session, "tasks.stream_by_user", batch_size, user_id=uid)

    async def set_status(
        self,
        session: Session,
        task_id: uuid.UUID,
        expected: TaskStatus | Collection[TaskStatus],
        new: TaskStatus,
        completed_at: dt.datetime | None,
        *,
        updated_at: dt.datetime | None = None,
    ) -> bool:
        """Move the task to ``new`` (setting ``completed_at`` and moving ``updated_at``)
        only if its status is still ``expected`` (one status or several); False when
        the task is gone or in another status. One conditional UPDATE. ``updated_at``
        defaults to now."""
        states = (
            [_status(expected)] if isinstance(expected, str) else [_status(s) for s in expected]
        )
        if not 1 <= len(states) <= _STATUS_SLOTS:
            raise ValueError(f"expected must name 1 to {_STATUS_SLOTS} statuses, got {expected!r}")
        slots = states + [states[0]] * (_STATUS_SLOTS - len(states))
        changed = await self._execute(
            session,
            "tasks.set_status",
            id=check_uuid(task_id, "task_id"),
            new_status=_status(new),
            completed_at=completed_at,
            updated_at=updated_at if updated_at is not None else utc_now(),
            **{f"expected_{i}": s for i, s in enumerate(slots, 1)},
        )
        return bool(changed)
