"""The workloads: what each one seeds, the operation it times and how it counts.

Every workload runs in a database of its own (W5 and its no-index variant
share one), seeded once by the ``raw`` driver code before any stack runs, so
no workload's rows change another's timings.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from benchmarks.data import SEARCH_TERM, make_tasks, make_users
from benchmarks.stacks.base import Stack
from benchmarks.stacks.raw import RawStack
from rawrepo.config import Dialect
from rawrepo.models import TaskCreate

__all__ = ["FULL", "QUICK", "WORKLOADS", "Sizes", "Workload", "make_workloads"]

Op = Callable[[int], Awaitable[Any]]
Mode = Literal["loop", "bulk", "concurrent"]


@dataclass(frozen=True)
class Sizes:
    """Data sizes and durations; FULL and QUICK are the two presets."""

    runs: int
    duration: float
    """Seconds each timed run of a loop workload lasts (at least ``min_ops`` operations)."""
    min_ops: int
    warmup: float
    """Seconds of untimed operations per cell before its first timed run."""
    pool_size: int
    read_users: int
    list_limit: int
    list_owned: int
    bulk_rows: int
    search_rows: int
    user_tasks: int
    count_users: int
    count_tasks: int
    concurrency: int
    concurrent_duration: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Sizes(
    runs=5,
    duration=0.5,
    min_ops=5,
    warmup=0.25,
    pool_size=10,
    read_users=1000,
    list_limit=100,
    list_owned=200,
    bulk_rows=10_000,
    search_rows=100_000,
    user_tasks=50,
    count_users=100,
    count_tasks=2_000,
    concurrency=50,
    concurrent_duration=1.0,
)
QUICK = Sizes(
    runs=1,
    duration=0.08,
    min_ops=3,
    warmup=0.02,
    pool_size=10,
    read_users=100,
    list_limit=100,
    list_owned=120,
    bulk_rows=500,
    search_rows=2_000,
    user_tasks=50,
    count_users=100,
    count_tasks=300,
    concurrency=50,
    concurrent_duration=0.15,
)


def _count(result: Any) -> int:
    if isinstance(result, int):
        return result
    return len(result)


class Workload:
    """One benchmark. Subclasses set the class attributes and implement seed/op/check."""

    key: ClassVar[str]
    title: ClassVar[str]
    unit: ClassVar[str] = "ops/s"
    mode: ClassVar[Mode] = "loop"
    database: ClassVar[str] = ""
    """Workloads with the same database name share one (default: their own)."""
    only: ClassVar[tuple[Dialect, ...] | None] = None

    def __init__(self, sizes: Sizes, dialect: Dialect) -> None:
        self.sizes = sizes
        self.dialect = dialect
        self.rng = random.Random(f"{self.key}-{dialect}")

    @property
    def database_key(self) -> str:
        return self.database or self.key

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        """Write the rows the workload reads (untimed). ``shared`` is per database."""

    def op(self, stack: Stack) -> Op:
        """The timed operation; it gets a counter to vary its arguments by."""
        raise NotImplementedError

    def check(self, result: Any) -> str | None:
        """None if one operation's result is what the workload expects, else why not."""
        return None

    async def after_run(self, admin: RawStack) -> None:
        """Undo a run's writes (untimed)."""

    def rows_per_op(self) -> int:
        return 1


class CreateUser(Workload):
    key = "W1"
    title = "create user (1 per transaction)"
    unit = "users/s"

    def __init__(self, sizes: Sizes, dialect: Dialect) -> None:
        super().__init__(sizes, dialect)
        self.counter = itertools.count()

    def op(self, stack: Stack) -> Op:
        counter = self.counter
        create = stack.create_user

        def run(_: int) -> Awaitable[Any]:
            n = next(counter)
            return create(f"w1_user_{n}", f"w1_user_{n}@example.com")

        return run

    def check(self, result: Any) -> str | None:
        return None if result is not None else "created nothing"


class _ReadUsers(Workload):
    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        users = make_users(self.rng, f"{self.key.lower()}_user", self.sizes.read_users)
        await admin.seed_users([u.as_dict() for u in users])
        self.ids = [u.id for u in users]
        self.rng.shuffle(self.ids)

    def op(self, stack: Stack) -> Op:
        ids, n, get = self.ids, len(self.ids), stack.get_user
        return lambda i: get(ids[i % n])

    def check(self, result: Any) -> str | None:
        return None if result is not None else "user not found"


class GetUser(_ReadUsers):
    key = "W2"
    title = "get user by id"


class ListTasks(Workload):
    key = "W3"
    title = "list 100 tasks of a user"

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        users = make_users(self.rng, "w3_user", 10)
        await admin.seed_users([u.as_dict() for u in users])
        ids = [u.id for u in users]
        self.user_id = ids[0]
        tasks = make_tasks(self.rng, [self.user_id], self.sizes.list_owned)
        tasks += make_tasks(self.rng, ids[1:], self.sizes.list_owned)
        await admin.seed_tasks([t.as_dict() for t in tasks])

    def op(self, stack: Stack) -> Op:
        uid, limit, run = self.user_id, self.sizes.list_limit, stack.list_tasks
        return lambda i: run(uid, limit)

    def check(self, result: Any) -> str | None:
        got = _count(result)
        return None if got == self.sizes.list_limit else f"{got} tasks, not {self.sizes.list_limit}"


class BulkCreate(Workload):
    key = "W4"
    title = "bulk create tasks"
    unit = "rows/s"
    mode = "bulk"

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        users = make_users(self.rng, "w4_user", 1)
        await admin.seed_users([u.as_dict() for u in users])
        user_id = users[0].id
        rows = make_tasks(self.rng, [user_id], self.sizes.bulk_rows)
        self.items = [
            TaskCreate(user_id=user_id, title=t.title, description=t.description) for t in rows
        ]

    def op(self, stack: Stack) -> Op:
        items, run = self.items, stack.bulk_create_tasks
        return lambda i: run(items)

    def check(self, result: Any) -> str | None:
        got = _count(result)
        return None if got == len(self.items) else f"{got} rows, not {len(self.items)}"

    async def after_run(self, admin: RawStack) -> None:
        if self.dialect == "sqlite":
            await admin.admin("DELETE FROM tasks")
        else:
            await admin.admin("TRUNCATE TABLE tasks")

    def rows_per_op(self) -> int:
        return len(self.items)


class SearchTitles(Workload):
    key = "W5"
    title = "title search (substring, any case)"
    database = "W5"

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        users = make_users(self.rng, "w5_user", 100)
        await admin.seed_users([u.as_dict() for u in users])
        tasks = make_tasks(
            self.rng, [u.id for u in users], self.sizes.search_rows, search_word=True
        )
        self.expected = min(100, sum(SEARCH_TERM in t.title.lower() for t in tasks))
        await admin.seed_tasks([t.as_dict() for t in tasks])
        shared["search_expected"] = self.expected

    def op(self, stack: Stack) -> Op:
        run = stack.search_titles
        return lambda i: run(SEARCH_TERM)

    def check(self, result: Any) -> str | None:
        got = _count(result)
        return None if got == self.expected else f"{got} matches, not {self.expected}"


class SearchTitlesNoIndex(SearchTitles):
    """W5 again after ``DROP INDEX ix_tasks_title_folded_trgm`` on the same data (PostgreSQL)."""

    key = "W5-noindex"
    title = "title search, trigram index dropped"
    only = ("postgresql",)

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        # Normally runs right after W5 in the same database: same rows, same statistics.
        if "search_expected" not in shared:
            await super().seed(admin, shared)
        self.expected = shared["search_expected"]
        await admin.admin("DROP INDEX ix_tasks_title_folded_trgm")


class UserWithTasks(Workload):
    key = "W6"
    title = "user with tasks (50)"

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        users = make_users(self.rng, "w6_user", 20)
        await admin.seed_users([u.as_dict() for u in users])
        self.user_id = users[0].id
        tasks = make_tasks(self.rng, [u.id for u in users], 20 * self.sizes.user_tasks)
        await admin.seed_tasks([t.as_dict() for t in tasks])

    def op(self, stack: Stack) -> Op:
        uid, run = self.user_id, stack.get_user_with_tasks
        return lambda i: run(uid)

    def check(self, result: Any) -> str | None:
        if result is None:
            return "user not found"
        tasks = result[1] if isinstance(result, tuple) else result.tasks
        got = len(tasks)
        return None if got == self.sizes.user_tasks else f"{got} tasks, not {self.sizes.user_tasks}"


class UsersWithCounts(Workload):
    key = "W7"
    title = "users with task counts (100)"

    async def seed(self, admin: RawStack, shared: dict[str, Any]) -> None:
        users = make_users(self.rng, "w7_user", self.sizes.count_users)
        await admin.seed_users([u.as_dict() for u in users])
        ids = [u.id for u in users]
        # Uneven counts: user k owns roughly (k % 10 + 1) shares.
        owners = [uid for k, uid in enumerate(ids) for _ in range(k % 10 + 1)]
        tasks = make_tasks(self.rng, owners, self.sizes.count_tasks)
        await admin.seed_tasks([t.as_dict() for t in tasks])

    def op(self, stack: Stack) -> Op:
        limit, run = self.sizes.count_users, stack.users_with_task_counts
        return lambda i: run(limit)

    def check(self, result: Any) -> str | None:
        got = _count(result)
        want = self.sizes.count_users
        return None if got == want else f"{got} users, not {want}"


class ConcurrentGetUser(_ReadUsers):
    key = "W8"
    title = "get user by id, 50 concurrent, pool 10"
    mode = "concurrent"


WORKLOADS: tuple[type[Workload], ...] = (
    CreateUser,
    GetUser,
    ListTasks,
    BulkCreate,
    SearchTitles,
    SearchTitlesNoIndex,
    UserWithTasks,
    UsersWithCounts,
    ConcurrentGetUser,
)


def make_workloads(keys: Sequence[str], sizes: Sizes, dialect: Dialect) -> list[Workload]:
    """Fresh workload objects for one backend, in suite order, skipping those not for it."""
    chosen = [w for w in WORKLOADS if w.key in keys]
    return [w(sizes, dialect) for w in chosen if w.only is None or dialect in w.only]
