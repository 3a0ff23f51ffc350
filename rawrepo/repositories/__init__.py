"""Typed repositories of the reference domain: users and tasks."""

from rawrepo.repositories.task import TaskRepository, escape_like
from rawrepo.repositories.user import UserRepository

__all__ = ["TaskRepository", "UserRepository", "escape_like"]
