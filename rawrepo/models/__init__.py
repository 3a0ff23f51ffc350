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
    Task,
    TaskCreate,
    TaskRead,
    TaskStatus,
    TaskUpdate,
    Title,
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
    "utc_now",
]
