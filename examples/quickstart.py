"""rawrepo quickstart: the flow a newcomer runs first.

Runs on the embedded default (SQLite at ./data/app.db, created, and printed as the
first line) unless DATABASE_URL is set: applies rawrepo's bundled reference schema
(the users and tasks tables), creates a user and tasks, bulk-creates more,
searches them, completes one and prints users with their task counts.

    python examples/quickstart.py
"""

from __future__ import annotations

import asyncio

from rawrepo import Database, migrate
from rawrepo.models import TaskCreate, UserCreate
from rawrepo.repositories import TaskRepository, UserRepository
from rawrepo.services import TaskService, UserService

users = UserService()
tasks = TaskService()
user_repo = UserRepository()
task_repo = TaskRepository()


async def main() -> None:
    db = Database()  # DATABASE_URL, or sqlite+aiosqlite:///data/app.db
    print(f"database: {db.url}")
    # yoyo is synchronous: run it off the event loop. bundled=True: the reference
    # schema; your own project applies its ./migrations (rawrepo migrate apply).
    applied = await asyncio.to_thread(migrate.apply, db.url.render(mask=False), bundled=True)
    for migration in applied:
        print(f"applied migration {migration.id}")

    async with db:
        async with db.create_session() as session:
            alice = await user_repo.get_by_username(session, "alice")
            if alice is None:
                alice = await users.create_user(
                    session, UserCreate(username="alice", email="alice@example.com")
                )
                print(f"created user {alice.username} ({alice.id})")
            else:
                print(f"found user {alice.username} ({alice.id})")

            first = await tasks.create(
                session, TaskCreate(title="Write the first query", user_id=alice.id)
            )
            batch = await task_repo.bulk_create(
                session,
                [
                    TaskCreate(title=f"Review query #{n} with the DBA", user_id=alice.id)
                    for n in range(1, 6)
                ],
            )
            print(f"created {1 + len(batch)} tasks")

        async with db.create_session() as session:
            found = await task_repo.search_by_title(session, "review QUERY")
            print(f"search 'review QUERY' found {len(found)} tasks")
            await tasks.start(session, first.id)
            done = await tasks.mark_completed(session, first.id)
            print(f"completed {done.title!r} at {done.completed_at:%Y-%m-%d %H:%M:%S %Z}")

        async with db.create_session() as session:
            for row in await user_repo.get_users_with_task_counts(session, limit=10):
                print(f"{row.username}: {row.task_count} tasks")


if __name__ == "__main__":
    asyncio.run(main())
