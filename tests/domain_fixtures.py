"""Fixtures for the users-and-tasks domain tests, on every backend.

``domain_db`` is a connected Database on the session's migrated database, emptied
before each test; ``make_user`` / ``make_task`` insert rows in their own committed
session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest_asyncio

from rawrepo.database import Database
from rawrepo.models import Task, TaskCreate, TaskStatus, User, UserCreate
from rawrepo.repositories import TaskRepository, UserRepository

__all__ = ["SQL_DOMAIN", "domain_db", "make_task", "make_user"]

SQL_DOMAIN = Path(__file__).resolve().parent / "sql_domain"

MakeUser = Callable[..., Awaitable[User]]
MakeTask = Callable[..., Awaitable[Task]]


@pytest_asyncio.fixture(loop_scope="session")
async def domain_db(migrated_database_url: str) -> AsyncIterator[Database]:
    """A connected Database on the migrated test database, with no users or tasks."""
    db = Database(migrated_database_url, sql_dir=SQL_DOMAIN, pool_size=5, max_overflow=25)
    await db.connect()
    try:
        async with db.create_session() as session:
            await session.execute("domain.clear_users")
        yield db
    finally:
        await db.disconnect()


@pytest_asyncio.fixture(loop_scope="session")
async def make_user(domain_db: Database) -> MakeUser:
    """``await make_user("alice")``: a committed user (a unique name by default)."""
    users = UserRepository()

    async def make(username: str | None = None, email: str | None = None) -> User:
        name = username or f"user_{uuid.uuid4().hex[:12]}"
        async with domain_db.create_session() as session:
            return await users.create(session, UserCreate(username=name, email=email))

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def make_task(domain_db: Database) -> MakeTask:
    """``await make_task(user, "title", status=...)``: a committed task."""
    tasks = TaskRepository()

    async def make(
        user: User,
        title: str = "a task",
        *,
        status: TaskStatus = TaskStatus.PENDING,
        description: str | None = None,
    ) -> Task:
        data = TaskCreate(title=title, description=description, status=status, user_id=user.id)
        async with domain_db.create_session() as session:
            return await tasks.create(session, data)

    return make
