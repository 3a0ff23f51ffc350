"""``TaskService``: tasks of existing users and the rules of their status."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from rawrepo.database import Session
from rawrepo.errors import (
    ConflictError,
    ForeignKeyViolation,
    InvalidStatusTransition,
    TaskNotFoundError,
    UserNotFoundError,
)
from rawrepo.models import Task, TaskCreate, TaskStatus, TaskUpdate, check_idempotency_key, utc_now
from rawrepo.repositories import TaskRepository

__all__ = ["ALLOWED_TRANSITIONS", "TaskService"]

_S = TaskStatus

ALLOWED_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    _S.PENDING: frozenset({_S.IN_PROGRESS, _S.COMPLETED, _S.CANCELLED}),
    _S.IN_PROGRESS: frozenset({_S.COMPLETED, _S.CANCELLED, _S.PENDING}),
    _S.COMPLETED: frozenset({_S.PENDING}),
    _S.CANCELLED: frozenset({_S.PENDING}),
}
"""For each status, the statuses a task may move to from it."""

_SOURCES: dict[TaskStatus, list[TaskStatus]] = {
    target: [s for s in TaskStatus if target in ALLOWED_TRANSITIONS[s]] for target in TaskStatus
}


class TaskService:
    """Create, read, change and delete tasks, and move them between statuses.

    Allowed moves: pending -> in_progress | completed | cancelled;
    in_progress -> completed | cancelled | pending; completed -> pending;
    cancelled -> pending. Any other raises InvalidStatusTransition.

    A move is one conditional UPDATE that applies only while the task is still in
    a status the move is allowed from, so concurrent moves cannot both win: the
    loser re-reads the task and gets InvalidStatusTransition (or TaskNotFoundError).
    """

    def __init__(self, tasks: TaskRepository | None = None) -> None:
        self.tasks = tasks if tasks is not None else TaskRepository()

    async def create(
        self, session: Session, data: TaskCreate, *, idempotency_key: str | None = None
    ) -> Task:
        """Create a task; UserNotFoundError if ``data.user_id`` names no user.

        With an idempotency key (``idempotency_key=`` or ``data.idempotency_key``; both
        given and different is a ValueError), creating the same task again returns the
        task first created with that key, unchanged, and adds no row: retrying after
        :class:`~rawrepo.errors.CommitOutcomeUnknownError` is safe. Keys are unique per
        user. While that task is as it was created, a ``data`` that differs from it
        (title, description or status) raises ConflictError naming the key: the key was
        reused for another task. Once the task has changed (started, renamed), the key
        still names that one creation and a replay returns the task as it is now.
        Concurrent creates with one key make one task and all return it. See
        :meth:`create_or_get` to learn whether the task is new."""
        task, _ = await self.create_or_get(session, data, idempotency_key=idempotency_key)
        return task

    async def create_or_get(
        self, session: Session, data: TaskCreate, *, idempotency_key: str | None = None
    ) -> tuple[Task, bool]:
        """:meth:`create`, also saying whether the task is new: ``(task, True)`` when this
        call created it, ``(task, False)`` for a replay of an idempotency key (an HTTP
        endpoint answers 201 or 200)."""
        key = self._key(data, idempotency_key)
        try:
            async with session.savepoint():
                if key is None:
                    return await self.tasks.create(session, data), True
                if data.idempotency_key != key:
                    data = data.model_copy(update={"idempotency_key": key})
                task, created = await self.tasks.create_idempotent(session, data)
        except ForeignKeyViolation as exc:
            raise UserNotFoundError(f"user {data.user_id} does not exist") from exc
        # The payload is compared while the task is as created; once it was changed
        # (started, renamed) the key still names that one creation: a replay returns it.
        if not created and task.updated_at == task.created_at:
            changed = [
                name
                for name in ("title", "description", "status")
                if getattr(task, name) != getattr(data, name)
            ]
            if changed:
                raise ConflictError(
                    f"idempotency_key {key!r} already created task {task.id} with a"
                    f" different {', '.join(changed)}: use a new key for a new task",
                    hint="a key names one logical creation; a retry must send the same task",
                )
        return task, created

    @staticmethod
    def _key(data: TaskCreate, idempotency_key: str | None) -> str | None:
        if idempotency_key is None:
            return data.idempotency_key
        key = check_idempotency_key(idempotency_key)
        if data.idempotency_key is not None and data.idempotency_key != key:
            raise ValueError(
                f"idempotency_key {key!r} differs from data.idempotency_key"
                f" {data.idempotency_key!r}: give one key, or the same in both"
            )
        return key

    async def get(self, session: Session, task_id: uuid.UUID) -> Task:
        """The task; TaskNotFoundError if there is none."""
        task = await self.tasks.get(session, task_id)
        if task is None:
            raise TaskNotFoundError(f"task {task_id} does not exist")
        return task

    async def list_tasks(
        self,
        session: Session,
        skip: int = 0,
        limit: int = 100,
        *,
        status: TaskStatus | None = None,
        user_id: uuid.UUID | None = None,
    ) -> list[Task]:
        """A page of tasks, oldest first, optionally of one status and/or user."""
        filters = {"status": status, "user_id": user_id}
        return await self.tasks.get_multi(session, skip=skip, limit=limit, filters=filters)

    async def update(self, session: Session, task_id: uuid.UUID, data: TaskUpdate) -> Task:
        """Apply the fields set in ``data``. A status change follows the same rules as
        the moves (setting the current status again changes nothing);
        TaskNotFoundError for an unknown id."""
        task: Task | None = None
        if data.status is not None and "status" in data.model_fields_set:
            task = await self._move(session, task_id, data.status, same_ok=True)
        rest = data.model_dump(include=data.model_fields_set - {"status"})
        if rest:
            task = await self.tasks.update_by_id(session, task_id, TaskUpdate(**rest))
            if task is None:
                raise TaskNotFoundError(f"task {task_id} does not exist")
        return task if task is not None else await self.get(session, task_id)

    async def delete(self, session: Session, task_id: uuid.UUID) -> None:
        """Delete the task; TaskNotFoundError for an unknown id."""
        if not await self.tasks.delete(session, task_id):
            raise TaskNotFoundError(f"task {task_id} does not exist")

    async def start(self, session: Session, task_id: uuid.UUID) -> Task:
        """pending -> in_progress."""
        return await self._move(session, task_id, TaskStatus.IN_PROGRESS)

    async def mark_completed(self, session: Session, task_id: uuid.UUID) -> Task:
        """pending or in_progress -> completed; sets ``completed_at``."""
        return await self._move(session, task_id, TaskStatus.COMPLETED)

    async def cancel(self, session: Session, task_id: uuid.UUID) -> Task:
        """pending or in_progress -> cancelled."""
        return await self._move(session, task_id, TaskStatus.CANCELLED)

    async def reopen(self, session: Session, task_id: uuid.UUID) -> Task:
        """in_progress, completed or cancelled -> pending; clears ``completed_at``."""
        return await self._move(session, task_id, TaskStatus.PENDING)

    async def _move(
        self, session: Session, task_id: uuid.UUID, target: TaskStatus, *, same_ok: bool = False
    ) -> Task:
        now = utc_now()
        completed_at = now if target is TaskStatus.COMPLETED else None
        moved = await self.tasks.set_status(
            session, task_id, _SOURCES[target], target, completed_at, updated_at=now
        )
        task = await self.tasks.get(session, task_id)
        if task is None:
            raise TaskNotFoundError(f"task {task_id} does not exist")
        if moved or (same_ok and task.status is target):
            return task
        raise InvalidStatusTransition(
            f"task {task_id} cannot move from {task.status.value!r} to {target.value!r}",
            current=task.status,
            target=target,
        )
