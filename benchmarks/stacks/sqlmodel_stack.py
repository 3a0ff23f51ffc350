"""The ORM stack: SQLAlchemy 2 async engine, SQLModel table models, a small repository.

Written the way the SQLModel and SQLAlchemy docs recommend: table models with
a relationship, ``AsyncSession`` with ``expire_on_commit=False``, ``session.get``
for primary keys, ``select(...)`` + ``session.exec`` for queries,
``selectinload`` for a user's tasks, ``add_all`` + ``commit`` for inserts.

The tables are rawrepo's (created by its migrations), so two small
``TypeDecorator``s map them: ids are native ``uuid`` on PostgreSQL and 36-char
text elsewhere (SQLAlchemy's own ``Uuid`` would write 32 hex digits on MySQL
and SQLite); timestamps are ``timestamptz`` on PostgreSQL, naive-UTC
``DATETIME(6)`` on MySQL and fixed-width UTC text on SQLite.
"""

# No ``from __future__ import annotations`` here: SQLModel reads the relationship
# annotations at class creation and needs them evaluated.
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import CHAR, DateTime, String, Text, event, func
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect as SADialect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, Relationship, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from benchmarks.stacks.base import Stack
from benchmarks.stacks.raw import (
    SEARCH_LIMIT,
    SQLITE_PRAGMAS,
    like_pattern,
    mysql_session,
    unicode_lower,
)
from rawrepo.config import parse_url
from rawrepo.models import TaskCreate

__all__ = ["SMTask", "SMUser", "SQLModelStack"]

UTC = dt.UTC


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


class UUIDText(TypeDecorator[uuid.UUID]):
    """``uuid.UUID`` in Python; native uuid on PostgreSQL, CHAR(36) text elsewhere."""

    impl = CHAR(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: SADialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(CHAR(36))

    def process_bind_param(self, value: Any, dialect: SADialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: SADialect) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(value)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes stored the way rawrepo's schema stores them."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: SADialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: SADialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")
        if dialect.name == "mysql":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: SADialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        moment: dt.datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class SMUser(SQLModel, table=True):
    __tablename__: ClassVar[str] = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True, sa_type=UUIDText)
    username: str = Field(max_length=50, sa_type=String(50))
    email: str | None = Field(default=None, max_length=320, sa_type=String(320))
    created_at: dt.datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=_now, sa_type=UTCDateTime)

    tasks: list["SMTask"] = Relationship(
        back_populates="user",
        sa_relationship_kwargs={"order_by": "[SMTask.created_at, SMTask.id]"},
    )


class SMTask(SQLModel, table=True):
    __tablename__: ClassVar[str] = "tasks"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True, sa_type=UUIDText)
    user_id: uuid.UUID = Field(foreign_key="users.id", sa_type=UUIDText)
    title: str = Field(max_length=200, sa_type=String(200))
    # the case-folded title rawrepo's schema keeps for the search (str.casefold)
    title_folded: str = Field(max_length=800, sa_type=String(800))
    description: str | None = Field(default=None, sa_type=Text)
    status: str = Field(default="pending", max_length=20, sa_type=String(20))
    created_at: dt.datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)

    user: SMUser | None = Relationship(back_populates="tasks")


# By rawrepo's driver name: SQLAlchemy runs on the same driver as the other stacks.
_SCHEMES = {
    "asyncpg": "postgresql+asyncpg",
    "aiomysql": "mysql+aiomysql",
    "asyncmy": "mysql+asyncmy",
    "aiosqlite": "sqlite+aiosqlite",
}


def sqlalchemy_url(url: str) -> str:
    """rawrepo's URL for the same database, in SQLAlchemy's driver-qualified form."""
    parsed = parse_url(url)
    rest = parsed.render(mask=False).split("://", 1)[1]
    return f"{_SCHEMES[parsed.driver]}://{rest}"


class SQLModelStack(Stack):
    name = "sqlmodel"

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def open(self) -> None:
        kwargs: dict[str, Any] = {"pool_size": self.pool_size, "max_overflow": 0}
        if self.dialect == "postgresql":
            kwargs["connect_args"] = {"server_settings": {"timezone": "UTC"}}
        elif self.dialect == "mysql":
            kwargs["connect_args"] = {"init_command": await mysql_session(self.url)}
        engine = create_async_engine(sqlalchemy_url(self.url), **kwargs)
        if self.dialect == "sqlite":
            pragmas = SQLITE_PRAGMAS

            @event.listens_for(engine.sync_engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                for pragma in pragmas:
                    cursor.execute(pragma)
                cursor.close()
                dbapi_conn.create_function("lower", 1, unicode_lower, deterministic=True)

        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # Open every pooled connection now, as the other stacks do.
        conns = [await engine.connect() for _ in range(self.pool_size)]
        for conn in conns:
            await conn.close()

    async def close(self) -> None:
        await self.engine.dispose()

    async def create_user(self, username: str, email: str) -> SMUser:
        async with self.sessions() as session:
            user = SMUser(username=username, email=email)
            session.add(user)
            await session.commit()
            return user

    async def get_user(self, user_id: uuid.UUID) -> SMUser | None:
        async with self.sessions() as session:
            return await session.get(SMUser, user_id)

    async def list_tasks(self, user_id: uuid.UUID, limit: int) -> Sequence[SMTask]:
        stmt = (
            select(SMTask)
            .where(SMTask.user_id == user_id)
            .order_by(col(SMTask.created_at), col(SMTask.id))
            .offset(0)
            .limit(limit)
        )
        async with self.sessions() as session:
            return (await session.exec(stmt)).all()

    async def bulk_create_tasks(self, tasks: Sequence[TaskCreate]) -> list[SMTask]:
        async with self.sessions() as session:
            objs = [
                SMTask(
                    user_id=t.user_id,
                    title=t.title,
                    title_folded=t.title.casefold(),
                    description=t.description,
                    status=t.status.value,
                )
                for t in tasks
            ]
            session.add_all(objs)
            await session.commit()
            return objs

    async def search_titles(self, term: str) -> Sequence[SMTask]:
        stmt = (
            select(SMTask)
            .where(col(SMTask.title_folded).like(like_pattern(term), escape="\\"))
            .order_by(col(SMTask.created_at), col(SMTask.id))
            .offset(0)
            .limit(SEARCH_LIMIT)
        )
        async with self.sessions() as session:
            return (await session.exec(stmt)).all()

    async def get_user_with_tasks(self, user_id: uuid.UUID) -> SMUser | None:
        stmt = select(SMUser).where(SMUser.id == user_id).options(selectinload(SMUser.tasks))  # type: ignore[arg-type]
        async with self.sessions() as session:
            return (await session.exec(stmt)).first()

    async def users_with_task_counts(self, limit: int) -> Sequence[tuple[SMUser, int]]:
        async with self.sessions() as session:
            rows: Sequence[tuple[SMUser, int]] = (await session.exec(counts_statement(limit))).all()
            return rows


def counts_statement(limit: int) -> Any:
    """Users with their task counts, most first: the shape of rawrepo's
    ``users/with_task_counts.sql`` (counts grouped in a subquery, then joined)."""
    counts = (
        select(col(SMTask.user_id).label("user_id"), func.count().label("task_count"))
        .group_by(col(SMTask.user_id))
        .subquery("c")
    )
    task_count = func.coalesce(counts.c.task_count, 0).label("task_count")
    return (
        select(SMUser, task_count)
        .outerjoin(counts, counts.c.user_id == SMUser.id)
        .order_by(task_count.desc(), col(SMUser.created_at), col(SMUser.id))
        .offset(0)
        .limit(limit)
    )
