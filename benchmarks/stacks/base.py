"""The interface every benchmarked stack implements: one method per workload operation."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from rawrepo.config import Dialect
from rawrepo.models import TaskCreate

__all__ = ["Stack"]


class Stack(ABC):
    """One way of talking to the database. Each operation is a complete unit of work
    (its own pooled connection, and its own transaction where the stack uses one)."""

    name: str = ""

    def __init__(self, url: str, dialect: Dialect, pool_size: int) -> None:
        self.url = url
        self.dialect = dialect
        self.pool_size = pool_size

    @abstractmethod
    async def open(self) -> None:
        """Open the pool (and fill it, so the first timed operation does not connect)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create_user(self, username: str, email: str) -> Any:
        """W1: insert one user in its own transaction."""

    @abstractmethod
    async def get_user(self, user_id: uuid.UUID) -> Any:
        """W2/W8: one user by primary key."""

    @abstractmethod
    async def list_tasks(self, user_id: uuid.UUID, limit: int) -> Sequence[Any]:
        """W3: a user's first ``limit`` tasks, oldest first."""

    @abstractmethod
    async def bulk_create_tasks(self, tasks: Sequence[TaskCreate]) -> Any:
        """W4: insert all ``tasks`` in one transaction; return the models (or a count)."""

    @abstractmethod
    async def search_titles(self, term: str) -> Sequence[Any]:
        """W5: tasks whose title contains ``term``, case-insensitively."""

    @abstractmethod
    async def get_user_with_tasks(self, user_id: uuid.UUID) -> Any:
        """W6: a user and all their tasks."""

    @abstractmethod
    async def users_with_task_counts(self, limit: int) -> Sequence[Any]:
        """W7: the first ``limit`` users, each with their number of tasks."""
