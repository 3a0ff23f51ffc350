"""The rawrepo stack: ``Database`` + the reference repositories, one session per operation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.stacks.base import Stack
from rawrepo import Database
from rawrepo.config import Dialect
from rawrepo.models import Task, TaskCreate, User, UserCreate, UserWithTaskCount, UserWithTasks
from rawrepo.repositories import TaskRepository, UserRepository

__all__ = ["RawrepoStack"]


class RawrepoStack(Stack):
    name = "rawrepo"

    def __init__(self, url: str, dialect: Dialect, pool_size: int) -> None:
        super().__init__(url, dialect, pool_size)
        # Query tags stay on (the default); OpenTelemetry's cost, with the package
        # installed as it is here, is measured apart: python -m benchmarks.instrumentation.
        self.db = Database(url, pool_size=pool_size, max_overflow=0, tracing=False)
        self.users = UserRepository()
        self.tasks = TaskRepository()

    async def open(self) -> None:
        await self.db.connect()
        # Open every pooled connection now (the pool opens them on demand).
        async with AsyncExitStack() as stack:
            for _ in range(self.pool_size):
                await stack.enter_async_context(self.db.create_session())

    async def close(self) -> None:
        await self.db.disconnect()

    async def create_user(self, username: str, email: str) -> User:
        # One INSERT is the whole unit of work: an autocommit session, as the raw stacks
        # autocommit it (a default session adds BEGIN and COMMIT round trips).
        async with self.db.create_session(autocommit=True) as session:
            return await self.users.create(session, UserCreate(username=username, email=email))

    async def get_user(self, user_id: uuid.UUID) -> User | None:
        async with self.db.create_session() as session:
            return await self.users.get(session, user_id)

    async def list_tasks(self, user_id: uuid.UUID, limit: int) -> Sequence[Task]:
        async with self.db.create_session() as session:
            return await self.tasks.get_by_user(session, user_id, skip=0, limit=limit)

    async def bulk_create_tasks(self, tasks: Sequence[TaskCreate]) -> Any:
        async with self.db.create_session() as session:
            return await self.tasks.bulk_create(session, tasks)

    async def search_titles(self, term: str) -> Sequence[Task]:
        async with self.db.create_session() as session:
            return await self.tasks.search_by_title(session, term)

    async def get_user_with_tasks(self, user_id: uuid.UUID) -> UserWithTasks | None:
        async with self.db.create_session() as session:
            return await self.users.get_user_with_tasks(session, user_id)

    async def users_with_task_counts(self, limit: int) -> Sequence[UserWithTaskCount]:
        async with self.db.create_session() as session:
            return await self.users.get_users_with_task_counts(session, limit=limit)
