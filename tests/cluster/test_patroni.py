"""rawrepo through a real Patroni failover (issue 14, item 4).

A Patroni cluster on loopback (tests/cluster/patroni.py: etcd, leader pg1, synchronous
standby pg2) serves a Database whose URL lists both members; rawrepo connects to the
writable one (``target_session_attrs=read-write``). Writers (tests/cluster/workload.py)
create tasks through ``run_in_transaction`` while the leader's machine is killed
(Patroni and postmaster, SIGKILL), and the tasks read back afterwards must show:

- every acknowledged write stored, exactly once (synchronous_mode: an acknowledged
  COMMIT is on the standby that Patroni promotes);
- no write stored twice: a connection lost after COMMIT was sent raises
  CommitOutcomeUnknownError and is never retried; the writers then replay the write
  with its idempotency key (the recipe of docs/ha.md), which finds it or creates it;
- no write failed: ConnectionLost (the connection died before COMMIT, no host was
  writable yet) is retried until the standby is promoted. The last test runs the same
  workload with ``retries=0`` through a second failover: writes then fail, and still
  none is lost or stored though reported failed.

The figures (cluster start, Patroni's failover time, the downtime the writers saw, the
counts) are printed and repeated in pytest's terminal summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
import pytest_asyncio

from rawrepo import Database, Session
from rawrepo.migrate import apply
from rawrepo.models import Task, TaskCreate
from rawrepo.services.task import TaskService
from tests.cluster import Figures, cluster_unavailable, figures_for
from tests.cluster.patroni import PatroniCluster
from tests.cluster.workload import WriteReport, new_user, read_titles, run_writers, verify
from tests.reliability.servers import ServerUnavailable

pytestmark = [pytest.mark.cluster, pytest.mark.backend]

DATABASE = "rawrepo_ha"
WORKERS = 8
WRITES_BEFORE_FAULT = 2.0  # seconds of writes before the leader is killed
ACKED_AFTER_FAULT = 30  # acknowledged writes after the fault before the writers stop


_FIGURES = Figures("Patroni failover")


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Figures:
    return figures_for(request.config, _FIGURES)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cluster(figures: Figures) -> AsyncIterator[PatroniCluster]:
    """The running cluster (leader pg1, sync standby pg2); everything it started is
    stopped and deleted at the end, whatever the tests did."""
    began = time.monotonic()
    try:
        made = PatroniCluster()
    except ServerUnavailable as exc:  # a failure where RAWREPO_TEST_REQUIRE names patroni
        cluster_unavailable("patroni", f"patroni, etcd and PostgreSQL 15 ({exc})")
    try:
        seconds = await asyncio.to_thread(made.start)
        figures.add(
            f"cluster start: {seconds:.1f}s (leader up after"
            f" {made.timings['leader_up']:.1f}s, then the sync standby); Patroni settings"
            f" {made.dcs_settings}"
        )
        yield made
    finally:
        await asyncio.to_thread(made.destroy)
        figures.add(f"module wall time: {time.monotonic() - began:.1f}s")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ha_url(cluster: PatroniCluster) -> str:
    """The multi-host URL of a new database with rawrepo's bundled schema."""
    leader = cluster.leader()
    assert leader is not None, cluster.describe()

    def create() -> None:
        with psycopg.connect(leader.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    await asyncio.to_thread(create)
    url = cluster.url(DATABASE)
    await asyncio.to_thread(apply, url, bundled=True)
    return url


async def _until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        await asyncio.sleep(0.05)


async def _stop(stop: asyncio.Event, writers: asyncio.Task[WriteReport]) -> WriteReport:
    stop.set()
    async with asyncio.timeout(120):  # each writer finishes its write in flight
        return await writers


async def _cleanup(
    stop: asyncio.Event, writers: asyncio.Task[WriteReport] | None, db: Database
) -> None:
    """After a test that failed half-way: no writer left running."""
    stop.set()
    if writers is not None and not writers.done():
        writers.cancel()
        with contextlib.suppress(BaseException):
            await writers
    await db.disconnect()


async def test_a_failover_under_load_loses_no_acknowledged_write_and_doubles_none(
    cluster: PatroniCluster, ha_url: str, figures: Figures
) -> None:
    db = Database(ha_url, pool_size=WORKERS, connect_timeout=3.0)
    await db.connect()
    stop = asyncio.Event()
    writers: asyncio.Task[WriteReport] | None = None
    try:
        leader = cluster.leader()
        assert leader is not None, cluster.describe()
        assert (await db.health_check()).host == leader.host
        user_id = await new_user(db)
        report = WriteReport(user_id=user_id)
        writers = asyncio.create_task(
            run_writers(db, workers=WORKERS, stop=stop, user_id=user_id, prefix="fo", report=report)
        )
        await _until(lambda: len(report.acknowledged) >= WORKERS, 30, "the first writes")
        await asyncio.sleep(WRITES_BEFORE_FAULT)

        old, killed_at = await asyncio.to_thread(cluster.kill_leader)
        await report.mark_fault_after_kill()
        failover = await asyncio.to_thread(cluster.wait_for_failover, old, killed_at)
        await _until(
            lambda: report.acknowledged_after_fault() >= ACKED_AFTER_FAULT or writers.done(),
            60,
            f"{ACKED_AFTER_FAULT} acknowledged writes after the failover",
        )
        await _stop(stop, writers)
        verdict = await verify(db, report)
        health = await db.health_check()
    finally:
        await _cleanup(stop, writers, db)

    after = report.acknowledged_after_fault()
    figures.add(
        f"failover 1 ({failover.old.name} killed -> {failover.new.name} leads): Patroni"
        f" {failover.seconds:.1f}s, client-observed downtime {report.downtime or 0:.1f}s;"
        f" {len(report.acknowledged) - after} writes acknowledged before the fault,"
        f" {after} after; {verdict.summary()}"
    )
    assert failover.old is leader and failover.new is not leader
    assert verdict.lost == 0, verdict.summary()
    assert verdict.duplicated == 0, verdict.summary()
    assert verdict.failed == 0, f"{verdict.summary()}; {dict(list(report.failed.items())[:5])}"
    assert verdict.failed_committed == 0, verdict.summary()
    # every unknown outcome was resolved by a replay with its idempotency key, and
    # nothing is stored but the acknowledged writes
    assert verdict.unresolved == 0, verdict.summary()
    assert verdict.rerun_committed == 0, verdict.summary()
    assert verdict.stored == verdict.acknowledged, verdict.summary()
    assert report.acknowledged_after_fault() >= ACKED_AFTER_FAULT, verdict.summary()
    assert report.downtime is not None
    # the pool dropped its connections to the dead leader: the Database now reaches the
    # promoted member
    assert health.healthy, health.error
    assert health.host == failover.new.host


async def test_new_sessions_after_a_failover_reach_the_new_primary(
    cluster: PatroniCluster, ha_url: str, figures: Figures
) -> None:
    if not cluster.failovers:  # run on its own: make the failover here
        await asyncio.to_thread(cluster.failover)
    survivor = cluster.failovers[-1].new
    dead = cluster.failovers[-1].old
    assert dead.process is None  # still down: the URL's other host refuses connections

    title = f"after-failover-{uuid.uuid4().hex[:8]}"
    async with Database(ha_url, pool_size=2, connect_timeout=3.0) as db:
        health = await db.health_check()
        assert health.healthy, health.error
        assert health.host == survivor.host
        user_id = await new_user(db)

        async def create(session: Session) -> Task:
            return await TaskService().create(session, TaskCreate(title=title, user_id=user_id))

        await db.run_in_transaction(create)
    # stored on the survivor itself (read through its own single-host URL)
    async with Database(survivor.url(DATABASE), pool_size=1) as direct:
        assert (await read_titles(direct, user_id))[title] == 1
    figures.add(f"after failover: new Databases reach {survivor.name} ({survivor.host})")


async def test_without_retries_a_failover_fails_writes_yet_loses_none(
    cluster: PatroniCluster, ha_url: str, figures: Figures
) -> None:
    """The counterpart of the first test: the same writers with ``retries=0`` through a
    second failover (the killed member rejoins first, rewound, as the sync standby)."""
    rejoined = ""
    for member in cluster.members:
        if member.process is None:
            seconds = await asyncio.to_thread(cluster.restart, member)
            rejoined = f"{member.name} rejoined as sync standby in {seconds:.1f}s; "
    leader = cluster.leader()
    assert leader is not None, cluster.describe()

    db = Database(ha_url, pool_size=WORKERS, connect_timeout=3.0)
    await db.connect()
    stop = asyncio.Event()
    writers: asyncio.Task[WriteReport] | None = None
    try:
        # both members answer now: the standby (listed first after one failover) is
        # passed over for the writable leader
        assert (await db.health_check()).host == leader.host
        user_id = await new_user(db)
        report = WriteReport(user_id=user_id)
        writers = asyncio.create_task(
            run_writers(
                db,
                workers=WORKERS,
                stop=stop,
                user_id=user_id,
                prefix="nr",
                retries=0,
                report=report,
                resolve_unknown=False,  # the writes as run_in_transaction left them
            )
        )
        await _until(lambda: len(report.acknowledged) >= WORKERS, 30, "the first writes")
        await asyncio.sleep(WRITES_BEFORE_FAULT)

        old, killed_at = await asyncio.to_thread(cluster.kill_leader)
        await report.mark_fault_after_kill()
        failing = asyncio.create_task(asyncio.to_thread(cluster.wait_for_failover, old, killed_at))
        # Without retries every write meets the failover at once; stop soon, so that the
        # writers do not hammer the standby with connection attempts while it promotes.
        await _until(lambda: len(report.failed) >= 20 or failing.done(), 60, "failed writes")
        await _stop(stop, writers)
        failover = await failing
        verdict = await verify(db, report)
    finally:
        await _cleanup(stop, writers, db)

    figures.add(
        f"failover 2, retries=0 ({failover.old.name} killed -> {failover.new.name}):"
        f" {rejoined}Patroni {failover.seconds:.1f}s; {verdict.summary()}"
    )
    assert failover.old is leader
    assert verdict.failed > 0, verdict.summary()
    assert set(verdict.errors) == {"ConnectionLost"}, verdict.summary()
    assert verdict.failed_committed == 0, verdict.summary()
    assert verdict.lost == 0, verdict.summary()
    assert verdict.duplicated == 0, verdict.summary()
    assert verdict.stored == verdict.acknowledged + verdict.unknown_committed, verdict.summary()
