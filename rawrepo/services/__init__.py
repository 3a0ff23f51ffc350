"""Business rules of the reference domain, over the repositories (no SQL, no drivers)."""

from rawrepo.services.task import ALLOWED_TRANSITIONS, TaskService
from rawrepo.services.user import UserService

__all__ = ["ALLOWED_TRANSITIONS", "TaskService", "UserService"]
