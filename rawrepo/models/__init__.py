"""Pydantic models of the reference domain: users and tasks.

``User``/``Task`` are rows as stored; ``*Create`` and ``*Update`` validate input
before anything reaches a database (unknown fields are an error); ``*Read``
and the ``UserWith*`` views are what services hand back.
"""

from rawrepo.models.base import (
    Email,
    SafeText,
    TimestampMixin,
    Username,
    UTCDateTime,
    UUIDMixin,
    UUIDValue,
    utc_now,
)
from rawrepo.models.task import (
    Description,
    IdempotencyKey,
    Task,
    TaskCreate,
    TaskRead,
    TaskStatus,
    TaskUpdate,
    Title,
    check_idempotency_key,
)
from rawrepo.models.user import (
    User,
    UserCreate,
    UserRead,
    UserUpdate,
    UserWithTaskCount,
    UserWithTasks,
)

__all__ = [
    "Description",
    "Email",
    "IdempotencyKey",
    "SafeText",
    "Task",
    "TaskCreate",
    "TaskRead",
    "TaskStatus",
    "TaskUpdate",
    "TimestampMixin",
    "Title",
    "UTCDateTime",
    "UUIDMixin",
    "UUIDValue",
    "User",
    "UserCreate",
    "UserRead",
    "UserUpdate",
    "UserWithTaskCount",
    "UserWithTasks",
    "Username",
    "check_idempotency_key",
    "utc_now",
]
