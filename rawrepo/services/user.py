"""``UserService``: users with case-insensitively unique usernames."""

from __future__ import annotations

import uuid

from rawrepo.database import Session
from rawrepo.errors import UniqueViolation, UsernameTakenError, UserNotFoundError
from rawrepo.models import User, UserCreate, UserUpdate, UserWithTaskCount, UserWithTasks
from rawrepo.repositories import UserRepository

__all__ = ["UserService"]


def _is_username_conflict(exc: UniqueViolation) -> bool:
    # PostgreSQL and MySQL name the index; SQLite names the table and column.
    return exc.constraint == "uq_users_username" or (
        exc.table == "users" and exc.column == "username"
    )


class UserService:
    """Create, read, rename and delete users.

    A taken username (compared case-insensitively) raises UsernameTakenError, also
    when two sessions race for the same name: the insert runs first, inside a
    savepoint, and the database's unique index decides, so the session stays usable.
    """

    def __init__(self, users: UserRepository | None = None) -> None:
        self.users = users if users is not None else UserRepository()

    async def create_user(self, session: Session, data: UserCreate) -> User:
        """Create a user; UsernameTakenError if the name is taken."""
        try:
            async with session.savepoint():
                return await self.users.create(session, data)
        except UniqueViolation as exc:
            if not _is_username_conflict(exc):
                raise
            raise UsernameTakenError(f"username {data.username!r} is already taken") from exc

    async def get_user(self, session: Session, user_id: uuid.UUID) -> User:
        """The user; UserNotFoundError if there is none."""
        user = await self.users.get(session, user_id)
        if user is None:
            raise UserNotFoundError(f"user {user_id} does not exist")
        return user

    async def get_user_by_username(self, session: Session, username: str) -> User:
        """The user with this username (any case); UserNotFoundError if there is none."""
        user = await self.users.get_by_username(session, username)
        if user is None:
            raise UserNotFoundError(f"no user has the username {username!r}")
        return user

    async def get_user_with_tasks(self, session: Session, user_id: uuid.UUID) -> UserWithTasks:
        """The user with all their tasks, oldest first; UserNotFoundError if there is none."""
        user = await self.users.get_user_with_tasks(session, user_id)
        if user is None:
            raise UserNotFoundError(f"user {user_id} does not exist")
        return user

    async def update_user(self, session: Session, user_id: uuid.UUID, data: UserUpdate) -> User:
        """Apply the fields set in ``data``; UserNotFoundError for an unknown id,
        UsernameTakenError when renaming to a taken name."""
        try:
            async with session.savepoint():
                user = await self.users.update_by_id(session, user_id, data)
        except UniqueViolation as exc:
            if not _is_username_conflict(exc):
                raise
            raise UsernameTakenError(f"username {data.username!r} is already taken") from exc
        if user is None:
            raise UserNotFoundError(f"user {user_id} does not exist")
        return user

    async def delete_user(self, session: Session, user_id: uuid.UUID) -> None:
        """Delete the user and, through the foreign key's cascade, their tasks;
        UserNotFoundError for an unknown id."""
        if not await self.users.delete(session, user_id):
            raise UserNotFoundError(f"user {user_id} does not exist")

    async def list_users(self, session: Session, skip: int = 0, limit: int = 100) -> list[User]:
        """A page of users, oldest first (``limit`` 1..1000, ``skip`` >= 0)."""
        return await self.users.get_multi(session, skip=skip, limit=limit)

    async def list_users_with_task_counts(
        self, session: Session, skip: int = 0, limit: int = 100
    ) -> list[UserWithTaskCount]:
        """A page of users with their task counts, most tasks first."""
        return await self.users.get_users_with_task_counts(session, limit, skip=skip)
