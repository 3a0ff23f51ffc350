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

__all__ = ["Description", "Task", "TaskCreate", "TaskRead", "TaskStatus", "TaskUpdate", "Title"]

Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_text)]
"""A task title: 1 to 200 characters."""

Description = Annotated[str, Field(max_length=10_000), AfterValidator(check_text)]
"""A task description: at most 10,000 characters."""


class TaskStatus(StrEnum):
    """Where a task is in its life cycle."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Task(ReadModel, TimestampMixin, UUIDMixin):
    """A task as stored. ``completed_at`` is set while the status is ``completed``."""

    user_id: UUIDValue
    title: str
    description: str | None = None
    status: TaskStatus
    completed_at: UTCDateTime | None = None


TaskRead = Task
"""What callers read about a task: today the same class as :class:`Task`
(every stored column is public), so ``isinstance`` holds for both names."""


class TaskCreate(InputModel):
    """A new task for an existing user."""

    title: Title
    description: Description | None = None
    status: TaskStatus = TaskStatus.PENDING
    user_id: UUIDValue


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
