"""The writer loop of the failover tests, and the check of what it left behind.

``run_writers`` starts ``workers`` tasks that each create tasks for one user, one after
the other, through :meth:`Database.run_in_transaction` and ``TaskService.create``, until
``stop`` is set. Every logical write has a unique title, which is also its
idempotency key, so reading the user's tasks back afterwards tells exactly which writes
are stored and how many times:

- *acknowledged*: ``run_in_transaction`` returned; the task must be stored, once;
- *unknown*: it raised CommitOutcomeUnknownError. With ``resolve_unknown`` (the
  default) the writer does what docs/ha.md tells users to do: it runs the create again
  with the same idempotency key, which returns the task if the first attempt
  committed and creates it otherwise; the write is then acknowledged, and
  ``report.replayed`` says which of the two happened. Without it the write stays
  unknown: stored once or not at all, never twice (reading back resolves it);
- *rerun after commit*: the first ``run_in_transaction`` call returned, but the task
  it returned was already there (``created`` False): ``run_in_transaction`` ran a unit
  of work again after an earlier run of it had committed, the double write that
  CommitOutcomeUnknownError exists to prevent (the key only hid it). Must be none;
- *failed*: it raised anything else (ConnectionLost after the retries ran out, say);
  then it must not be stored: nothing reported failed may have been committed.

The client-observed downtime is the longest stretch without an acknowledged write that
contains the moment of the fault (``report.fault_at``, set by the test).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from rawrepo import Database, Session
from rawrepo.errors import CommitOutcomeUnknownError
from rawrepo.models import Task, TaskCreate, UserCreate
from rawrepo.services.task import TaskService
from rawrepo.services.user import UserService

__all__ = ["Verdict", "WriteReport", "new_user", "read_titles", "run_writers", "verify"]


@dataclass
class WriteReport:
    """What the writers saw: titles by outcome, with the acknowledgment times."""

    user_id: uuid.UUID
    started_at: float = field(default_factory=time.monotonic)
    fault_at: float | None = None
    acknowledged: dict[str, float] = field(default_factory=dict)  # title -> when
    unknown: list[str] = field(default_factory=list)
    # title -> the replay with the same key created the task (False: it found the task
    # the first attempt had committed)
    replayed: dict[str, bool] = field(default_factory=dict)
    rerun_committed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # title -> error type and text

    async def mark_fault_after_kill(self, settle: float = 0.1) -> None:
        """Note the fault just after a server was killed: first the replies it had sent
        (still in the socket buffers) are taken in, so that they count before the
        fault. Nothing else can acknowledge a write that soon (no other server is
        writable yet), so the downtime is the gap from the dead server's last commit to
        the first one elsewhere."""
        await asyncio.sleep(settle)
        self.fault_at = time.monotonic()

    @property
    def downtime(self) -> float | None:
        """Seconds from the last acknowledgment before the fault to the first after it
        (None if there was none after it)."""
        if self.fault_at is None:
            return None
        times = sorted(self.acknowledged.values())
        before = [t for t in times if t <= self.fault_at]
        after = [t for t in times if t > self.fault_at]
        if not after:
            return None
        return after[0] - (before[-1] if before else self.started_at)

    def acknowledged_after_fault(self) -> int:
        if self.fault_at is None:
            return 0
        return sum(1 for t in self.acknowledged.values() if t > self.fault_at)


@dataclass(frozen=True)
class Verdict:
    """The report held against what the database stores."""

    acknowledged: int
    lost: int  # acknowledged but not stored
    duplicated: int  # stored more than once
    unknown: int  # CommitOutcomeUnknownError
    unknown_committed: int  # of those, committed by the attempt that raised it
    unresolved: int  # of those, not replayed (resolve_unknown off, or the replay failed)
    rerun_committed: int  # run again by run_in_transaction after a run had committed
    failed: int  # other errors
    failed_committed: int  # reported failed, yet stored
    stored: int
    errors: Counter[str]

    def summary(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, lost {self.lost}, duplicated"
            f" {self.duplicated}, commit-outcome-unknown {self.unknown} (committed:"
            f" {self.unknown_committed}, unresolved: {self.unresolved}), rerun after"
            f" commit {self.rerun_committed}, failed"
            f" {self.failed} (committed: {self.failed_committed}), stored {self.stored};"
            f" errors {dict(self.errors)}"
        )


async def run_writers(
    db: Database,
    *,
    workers: int,
    stop: asyncio.Event,
    user_id: uuid.UUID,
    prefix: str,
    retries: int = 40,
    max_backoff: float = 0.5,
    write_timeout: float = 90.0,
    report: WriteReport | None = None,
    resolve_unknown: bool = True,
) -> WriteReport:
    """Run the writers until ``stop`` is set; each one finishes its write in flight.
    ``resolve_unknown``: replay a write whose commit outcome is unknown with its
    idempotency key (up to 5 times) until it is acknowledged or fails."""
    report = report or WriteReport(user_id=user_id)
    service = TaskService()

    async def writer(worker: int) -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            title = f"{prefix}-{worker}-{seq}"
            data = TaskCreate(title=title, user_id=user_id, idempotency_key=title)

            async def create(session: Session, data: TaskCreate = data) -> tuple[Task, bool]:
                return await service.create_or_get(session, data)

            attempts = 6 if resolve_unknown else 1
            for attempt in range(attempts):
                try:
                    async with asyncio.timeout(write_timeout):
                        _, created = await db.run_in_transaction(
                            create, retries=retries, backoff=0.02, max_backoff=max_backoff
                        )
                except CommitOutcomeUnknownError:
                    if attempt == 0:
                        report.unknown.append(title)
                    continue  # the recipe: the same key again
                except Exception as exc:  # checked: nothing failed may be stored
                    if attempt == 0:
                        report.failed[title] = f"{type(exc).__name__}: {exc}"
                    break  # a failed replay leaves the write unresolved
                else:
                    report.acknowledged[title] = time.monotonic()
                    if attempt > 0:
                        report.replayed[title] = created
                    elif not created:
                        report.rerun_committed.append(title)
                    break

    await asyncio.gather(*(writer(n) for n in range(workers)))
    return report


async def new_user(db: Database) -> uuid.UUID:
    """A new user with a unique name, for one test's writes; its id."""
    async with db.create_session() as session:
        user = await UserService().create_user(
            session, UserCreate(username=f"u_{uuid.uuid4().hex[:12]}")
        )
    return user.id


async def read_titles(db: Database, user_id: uuid.UUID) -> Counter[str]:
    """How many times each title is stored among the user's tasks."""
    service = TaskService()
    titles: Counter[str] = Counter()
    skip = 0
    async with db.create_session() as session:
        while True:
            page = await service.list_tasks(session, skip=skip, limit=1000, user_id=user_id)
            titles.update(task.title for task in page)
            if len(page) < 1000:
                return titles
            skip += len(page)


async def verify(db: Database, report: WriteReport) -> Verdict:
    """Read the user's tasks back (on ``db``, which must reach the current primary)."""
    stored = await read_titles(db, report.user_id)
    kinds = Counter(text.split(":", 1)[0] for text in report.failed.values())
    return Verdict(
        acknowledged=len(report.acknowledged),
        lost=sum(1 for title in report.acknowledged if stored[title] == 0),
        duplicated=sum(1 for count in stored.values() if count > 1),
        unknown=len(report.unknown),
        unknown_committed=sum(
            1
            for title in report.unknown
            if (not report.replayed[title] if title in report.replayed else stored[title] == 1)
        ),
        unresolved=sum(1 for title in report.unknown if title not in report.replayed),
        rerun_committed=len(report.rerun_committed),
        failed=len(report.failed),
        failed_committed=sum(1 for title in report.failed if stored[title] > 0),
        stored=sum(stored.values()),
        errors=kinds,
    )
