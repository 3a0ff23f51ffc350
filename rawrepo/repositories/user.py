"""``UserRepository``: users by id or username, with their tasks or task counts."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import TypeAdapter

from rawrepo.contracts import PAGE, QueryContract
from rawrepo.database import Session
from rawrepo.models import (
    Task,
    User,
    UserCreate,
    Username,
    UserUpdate,
    UserWithTaskCount,
    UserWithTasks,
)
from rawrepo.models.base import is_username
from rawrepo.repository import Repository, check_page

__all__ = ["UserRepository"]

_WITH_COUNTS = TypeAdapter(list[UserWithTaskCount])


class UserRepository(Repository[User, UserCreate, UserUpdate]):
    """Users (``sql/users``). Usernames compare case-insensitively everywhere.

    Filters for :meth:`get_multi` / :meth:`count`: ``username`` (a valid username,
    compared case-insensitively). A lookup by a string that cannot be a username
    (wrong length or characters) finds nothing without asking the database, so
    every backend answers alike (MySQL would ignore trailing spaces).
    """

    area = "users"
    model = User
    create_model = UserCreate
    update_model = UserUpdate
    filters: ClassVar[dict[str, TypeAdapter[Any]]] = {"username": TypeAdapter(Username)}
    extra_contracts = (
        QueryContract("users.get_by_username", {"username": str}, User),
        QueryContract("users.username_exists", {"username": str}),
        QueryContract("users.with_task_counts", PAGE, UserWithTaskCount),
        QueryContract("tasks.get_all_by_user", {"user_id": uuid.UUID}, Task),
        # get_user_with_tasks: the user's row becomes a UserWithTasks; its tasks come
        # from tasks.get_all_by_user.
        QueryContract(
            "users.get_by_id", {"id": uuid.UUID}, UserWithTasks, exclude_fields=frozenset({"tasks"})
        ),
    )

    async def get_by_username(self, session: Session, username: str) -> User | None:
        """The user with this username, compared case-insensitively, or None."""
        if not is_username(username):
            return None
        row = await self._fetch_one(session, "users.get_by_username", username=username)
        return self._to_model(row)

    async def username_exists(self, session: Session, username: str) -> bool:
        """Whether a user has this username, compared case-insensitively."""
        if not is_username(username):
            return False
        return bool(await self._fetch_value(session, "users.username_exists", username=username))

    async def get_user_with_tasks(
        self, session: Session, user_id: uuid.UUID
    ) -> UserWithTasks | None:
        """The user with all their tasks, oldest first (two queries), or None."""
        user = await self.get(session, user_id)
        if user is None:
            return None
        rows = await self._fetch_all(session, "tasks.get_all_by_user", user_id=user.id)
        return UserWithTasks.model_validate({**user.__dict__, "tasks": rows})

    async def get_users_with_task_counts(
        self, session: Session, limit: int = 100, *, skip: int = 0
    ) -> list[UserWithTaskCount]:
        """Users with the number of tasks each owns (0 for none): most tasks first,
        ties by ``created_at`` then ``id``."""
        check_page(skip, limit)
        rows = await self._fetch_all(session, "users.with_task_counts", limit=limit, offset=skip)
        return _WITH_COUNTS.validate_python(rows)
