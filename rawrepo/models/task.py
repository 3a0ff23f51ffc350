"""Task models: the status enum, the stored entity, its input models and its read view."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from rawrepo.models.base import (
    InputModel,
    ReadModel,
    TimestampMixin,
    UTCDateTime,
    UUIDMixin,
    UUIDValue,
    check_text,
    reject_null,
)

__all__ = [
    "IDEMPOTENCY_KEY_MAX_LENGTH",
    "Description",
    "IdempotencyKey",
    "Task",
    "TaskCreate",
    "TaskRead",
    "TaskStatus",
    "TaskUpdate",
    "Title",
    "check_idempotency_key",
]

Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_text)]
"""A task title: 1 to 200 characters."""

Description = Annotated[str, Field(max_length=10_000), AfterValidator(check_text)]
"""A task description: at most 10,000 characters."""

IDEMPOTENCY_KEY_MAX_LENGTH = 200
"""The longest idempotency key, in characters (the column is varchar(200))."""


def check_idempotency_key(value: object) -> str:
    """``value`` if it is a valid idempotency key, else ValueError saying what is wrong:
    a string of 1 to 200 characters, without leading or trailing whitespace (MySQL's
    comparison ignores trailing spaces, so such keys would match differently per
    backend), NUL characters or lone surrogates."""
    if not isinstance(value, str):
        raise ValueError(f"idempotency_key must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValueError(
            f"idempotency_key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters,"
            f" got {len(value)}"
        )
    if value != value.strip():
        raise ValueError("idempotency_key must not start or end with whitespace")
    try:
        check_text(value)
    except ValueError as exc:
        raise ValueError(f"idempotency_key {exc}") from None
    return value


IdempotencyKey = Annotated[str, AfterValidator(check_idempotency_key)]
"""A client-made key for one logical creation: 1 to 200 characters, no surrounding
whitespace (see :func:`check_idempotency_key`)."""


class TaskStatus(StrEnum):
    """Where a task is in its life cycle."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Task(ReadModel, TimestampMixin, UUIDMixin):
    """A task as stored. ``completed_at`` is set while the status is ``completed``;
    ``idempotency_key`` is the key it was created with, or None."""

    user_id: UUIDValue
    title: str
    description: str | None = None
    status: TaskStatus
    completed_at: UTCDateTime | None = None
    idempotency_key: str | None = None


TaskRead = Task
"""What callers read about a task: today the same class as :class:`Task`
(every stored column is public), so ``isinstance`` holds for both names."""


class TaskCreate(InputModel):
    """A new task for an existing user. With an ``idempotency_key``, creating it again
    with the same key returns the first task instead of a second one (see
    :meth:`rawrepo.services.TaskService.create`)."""

    title: Title
    description: Description | None = None
    status: TaskStatus = TaskStatus.PENDING
    user_id: UUIDValue
    idempotency_key: IdempotencyKey | None = None


class TaskUpdate(InputModel):
    """A partial change: only the fields that are set are applied
    (``description=None`` clears the description)."""

    title: Title | None = None
    description: Description | None = None
    status: TaskStatus | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> TaskUpdate:
        reject_null(self, "title", "status")
        return self
