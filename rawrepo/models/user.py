"""User models: the stored entity, its input models and its read views."""

from __future__ import annotations

from pydantic import Field, model_validator

from rawrepo.models.base import (
    Email,
    InputModel,
    ReadModel,
    TimestampMixin,
    Username,
    UUIDMixin,
    reject_null,
)
from rawrepo.models.task import TaskRead

__all__ = ["User", "UserCreate", "UserRead", "UserUpdate", "UserWithTaskCount", "UserWithTasks"]


class User(ReadModel, TimestampMixin, UUIDMixin):
    """A user as stored."""

    username: str
    email: str | None = None


UserRead = User
"""What callers read about a user: today the same class as :class:`User`
(every stored column is public), so ``isinstance`` holds for both names."""


class UserCreate(InputModel):
    """A new user. ``username`` is unique case-insensitively."""

    username: Username
    email: Email | None = None


class UserUpdate(InputModel):
    """A partial change: only the fields that are set are applied (``email=None`` clears)."""

    username: Username | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _username_not_null(self) -> UserUpdate:
        reject_null(self, "username")
        return self


class UserWithTasks(UserRead):
    """A user with all their tasks, oldest first."""

    tasks: list[TaskRead] = Field(default_factory=list)


class UserWithTaskCount(UserRead):
    """A user with the number of tasks they own."""

    task_count: int
