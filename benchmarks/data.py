"""Deterministic rows for seeding and for the write workloads.

Every stack reads and writes the same tables, so the seed data is written once
per database by the ``raw`` driver code and is plain Python values: ``uuid.UUID``
ids and timezone-aware UTC datetimes (each stack adapts them as it must).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["SEARCH_TERM", "TaskRow", "UserRow", "make_tasks", "make_users", "uuid_from"]

# One title in SEARCH_EVERY holds the search word; the search is case-insensitive,
# so the word is stored capitalised and searched in lower case.
SEARCH_TERM = "zebra"
SEARCH_EVERY = 1000

_WORDS = [
    "review",
    "write",
    "fix",
    "deploy",
    "plan",
    "test",
    "refactor",
    "design",
    "measure",
    "document",
    "update",
    "call",
    "email",
    "order",
    "clean",
    "migrate",
    "archive",
    "backup",
    "check",
    "prepare",
    "release",
    "sync",
    "merge",
    "draft",
    "budget",
    "invoice",
    "report",
    "meeting",
    "roadmap",
    "sprint",
    "backlog",
    "ticket",
    "server",
    "client",
    "query",
]
_STATUSES = ("pending", "in_progress", "completed", "cancelled")
_BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    username: str
    email: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class TaskRow:
    id: uuid.UUID
    user_id: uuid.UUID
    title: str
    description: str | None
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "title": self.title,
            "title_folded": self.title.casefold(),
            "description": self.description,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "completed_at": self.completed_at,
            "idempotency_key": None,
        }


def uuid_from(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID from ``rng`` (reproducible, unlike ``uuid.uuid4``)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def make_users(rng: random.Random, prefix: str, count: int) -> list[UserRow]:
    """``count`` users named ``<prefix>_<n>``, created one second apart."""
    rows = []
    for n in range(count):
        at = _BASE + dt.timedelta(seconds=n, microseconds=rng.randrange(1_000_000))
        rows.append(UserRow(uuid_from(rng), f"{prefix}_{n}", f"{prefix}_{n}@example.com", at, at))
    return rows


def make_tasks(
    rng: random.Random, user_ids: list[uuid.UUID], count: int, *, search_word: bool = False
) -> list[TaskRow]:
    """``count`` tasks spread round-robin over ``user_ids``, one millisecond apart.

    With ``search_word``, one title in SEARCH_EVERY contains SEARCH_TERM (capitalised).
    """
    rows = []
    for n in range(count):
        words = rng.sample(_WORDS, 3)
        if search_word and n % SEARCH_EVERY == SEARCH_EVERY // 2:
            words[1] = SEARCH_TERM.capitalize()
        title = f"{words[0].capitalize()} {words[1]} {words[2]} #{n}"
        description = None if n % 3 == 0 else f"Notes for task {n}: " + " ".join(words * 4)
        status = _STATUSES[n % 4]
        at = _BASE + dt.timedelta(milliseconds=n, microseconds=rng.randrange(1000))
        completed = at + dt.timedelta(hours=1) if status == "completed" else None
        rows.append(
            TaskRow(
                uuid_from(rng),
                user_ids[n % len(user_ids)],
                title,
                description,
                status,
                at,
                at,
                completed,
            )
        )
    return rows
