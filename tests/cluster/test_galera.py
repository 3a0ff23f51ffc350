"""rawrepo on a three-node MariaDB Galera cluster (issue 14, item 5).

The cluster (``galera.py``) is real: three mariadbd processes with the galera-4
provider on loopback, started once for this module. What the tests show:

- any node takes writes: three Databases whose multi-host URLs list the nodes in
  different orders write to three different nodes at once, and every node ends up
  with every acknowledged write, once;
- a certification conflict (two nodes change the same row; the one committing second
  fails at COMMIT with 1213, "deadlock") is retried by ``run_in_transaction``, and
  with ``retries=0`` it is raised as DeadlockDetected with only the winner's change
  stored;
- read-your-writes across nodes: a Database with ``?wsrep_sync_wait=1`` reads, on
  another node, every write the moment it was acknowledged;
- a node killed (SIGKILL) under load: the clients move to the other nodes and no
  acknowledged write is lost or stored twice (the last test: the cluster keeps two
  nodes afterwards).

The figures (start and join times, downtime, counts) are printed in the terminal
summary, as the replication suite prints its apply lag.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rawrepo import Database, Session
from rawrepo.errors import DeadlockDetected
from rawrepo.models import Task, TaskCreate, TaskUpdate
from rawrepo.queries import Query, parse_query
from rawrepo.repositories import TaskRepository
from rawrepo.services.task import TaskService
from rawrepo.services.user import UserService
from tests.cluster import Figures, cluster_unavailable, figures_for
from tests.cluster.galera import GaleraCluster
from tests.cluster.workload import Verdict, WriteReport, new_user, run_writers, verify
from tests.reliability.servers import ServerUnavailable

pytestmark = [pytest.mark.cluster, pytest.mark.backend]

MakeDb = Callable[..., Awaitable[Database]]


_FIGURES = Figures("Galera cluster figures")
_note = _FIGURES.add  # a figure for the terminal summary (and the captured output)


def _probe(name: str, sql: str) -> Query:
    """A one-off query of these tests (not a file: only this module needs them)."""
    return parse_query(sql, "mysql", name=f"galera.{name}", path=Path(f"galera/{name}.sql"))


PORT = _probe("port", "SELECT @@port")
SYNC_WAIT = _probe("sync_wait", "SELECT @@wsrep_sync_wait")


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[GaleraCluster]:
    """Three Galera nodes, Synced, for this module; stopped and deleted afterwards."""
    figures_for(request.config, _FIGURES)
    started = time.monotonic()
    try:
        made = GaleraCluster()
    except ServerUnavailable as exc:  # a failure where RAWREPO_TEST_REQUIRE names galera
        cluster_unavailable("galera", f"MariaDB with galera-4 and rsync ({exc})")
    try:
        try:
            made.setup()
        except ServerUnavailable as exc:
            pytest.fail(f"the Galera cluster did not start: {exc}", pytrace=False)
        joins = ", ".join(
            f"{what} {seconds:.1f} s" for what, seconds in made.timings.items() if "join" in what
        )
        _note(
            f"galera: 3-node cluster Synced in {made.timings['start']:.1f} s (bootstrap"
            f" {made.timings['bootstrap']:.1f} s, {joins}; rsync SST)"
        )
        yield made
    finally:
        made.destroy()
        _note(f"galera: module wall time {time.monotonic() - started:.1f} s (cluster included)")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database(cluster: GaleraCluster) -> str:
    """A database with rawrepo's bundled schema on every node; its name."""
    try:
        return await cluster.create_database()
    except Exception as exc:
        pytest.fail(f"cannot create the migrated database on the cluster: {exc!r}", pytrace=False)


@pytest_asyncio.fixture(loop_scope="session")
async def make_db(cluster: GaleraCluster, database: str) -> AsyncIterator[MakeDb]:
    """``await make_db(order=(2, 3, 1), options="wsrep_sync_wait=1")``: a connected
    Database on the test database (disconnected at the end of the test)."""
    made: list[Database] = []

    async def make(
        order: tuple[int, ...] = (1, 2, 3),
        options: str = "",
        scheme: str = "mysql",
        **settings: Any,
    ) -> Database:
        settings.setdefault("connect_timeout", 3.0)
        db = Database(cluster.url(database, order, options, scheme), **settings)
        made.append(db)
        await db.connect()
        return db

    yield make
    for db in made:
        await db.disconnect()


async def _port(db: Database) -> int:
    async with db.create_session() as session:
        return int(await session.fetch_value(PORT))


async def _wsrep_status(cluster: GaleraCluster, index: int) -> dict[str, str]:
    return await asyncio.to_thread(cluster.nodes[index - 1].status)


async def _visible_on(make_db: MakeDb, nodes: tuple[int, ...], user_id: uuid.UUID) -> None:
    """Until ``user_id`` is there on each node (a read with wsrep_sync_wait waits for
    the node to apply what the cluster committed), so writes there can refer to it."""
    for index in nodes:
        db = await make_db((index,), "wsrep_sync_wait=1", pool_size=1)
        async with db.create_session() as session:
            assert await UserService().users.get(session, user_id) is not None, (
                f"the user is not on node {index} even after a causal wait"
            )


async def _verify_everywhere(
    make_db: MakeDb, nodes: tuple[int, ...], report: WriteReport
) -> list[Verdict]:
    """The report held against what each node stores (each read after a causal wait)."""
    verdicts = []
    for index in nodes:
        db = await make_db((index,), "wsrep_sync_wait=1", pool_size=1)
        verdicts.append(await verify(db, report))
    return verdicts


# -- 1. any node takes writes ---------------------------------------------------------


async def test_writes_spread_over_the_nodes_and_every_node_stores_each_once(
    cluster: GaleraCluster, make_db: MakeDb
) -> None:
    orders = [(1, 2, 3), (2, 3, 1), (3, 1, 2)]
    dbs = [await make_db(order, pool_size=3) for order in orders]
    # each Database connects to the first node of its URL: all three are writable
    hosts = [cluster.index_of((await db.health_check()).host) for db in dbs]
    assert hosts == [1, 2, 3]
    assert [await _port(db) for db in dbs] == [node.port for node in cluster.nodes]
    users = [await new_user(db) for db in dbs]  # each on its own node: the FK check is local
    before = [int((await _wsrep_status(cluster, i))["wsrep_local_commits"]) for i in (1, 2, 3)]

    stop = asyncio.Event()
    writers = [
        asyncio.create_task(
            run_writers(db, workers=3, stop=stop, user_id=user, prefix=f"spread{n}")
        )
        for n, (db, user) in enumerate(zip(dbs, users, strict=True), 1)
    ]
    await asyncio.sleep(4.0)
    stop.set()
    reports = await asyncio.gather(*writers)

    after = [int((await _wsrep_status(cluster, i))["wsrep_local_commits"]) for i in (1, 2, 3)]
    local = [a - b for a, b in zip(after, before, strict=True)]
    acked = [len(report.acknowledged) for report in reports]
    _note(
        f"galera: writes spread over 3 nodes in 4 s: acknowledged per Database {acked},"
        f" commits originating on nodes 1/2/3 (wsrep_local_commits) {local}"
    )
    for n, (report, commits) in enumerate(zip(reports, local, strict=True), 1):
        assert len(report.acknowledged) > 0, f"Database {n} acknowledged no write"
        # each node certified and committed its own Database's writes
        assert commits >= len(report.acknowledged), (n, commits, len(report.acknowledged))
        assert not report.failed and not report.unknown, (report.failed, report.unknown)
    for report in reports:
        verdicts = await _verify_everywhere(make_db, (1, 2, 3), report)
        for index, verdict in zip((1, 2, 3), verdicts, strict=True):
            assert verdict.lost == 0 and verdict.duplicated == 0, (index, verdict.summary())
            assert verdict.stored == verdict.acknowledged, (index, verdict.summary())


# -- 2. certification conflicts ------------------------------------------------------


class _Conflict:
    """Two sessions on different nodes append to one task's description: A ("A", on
    node 1) updates the row, then waits until B ("B", on node 2) has committed its own
    update of the same row before it returns, so A's COMMIT comes second. B's write set
    is ordered first: applied on node 1 it aborts A's transaction, which holds the row
    lock there (a brute-force abort), or, had it not arrived yet, A's write set fails
    certification against it; either way A's COMMIT gets 1213. Both read with
    wsrep_sync_wait=1, so A's rerun reads B's committed value."""

    def __init__(self, db_a: Database, db_b: Database, task_id: uuid.UUID) -> None:
        self.db_a, self.db_b, self.task_id = db_a, db_b, task_id
        self.service = TaskService()
        self.calls = 0
        self.a_updated = asyncio.Event()
        self.b_committed = asyncio.Event()

    async def _append(self, session: Session, letter: str) -> Task:
        task = await self.service.get(session, self.task_id)
        change = TaskUpdate(description=(task.description or "") + letter)
        return await self.service.update(session, self.task_id, change)

    async def fn_a(self, session: Session) -> Task:
        self.calls += 1
        task = await self._append(session, "A")
        if self.calls == 1:
            self.a_updated.set()
            async with asyncio.timeout(30):
                await self.b_committed.wait()
        return task

    async def run_b(self) -> None:
        async with asyncio.timeout(30):
            await self.a_updated.wait()
        async with self.db_b.create_session() as session:
            await self._append(session, "B")
        self.b_committed.set()

    async def description(self, db: Database) -> str | None:
        async with db.create_session() as session:
            return (await self.service.get(session, self.task_id)).description


async def _conflict(make_db: MakeDb, scheme: str) -> _Conflict:
    db_a = await make_db((1,), "wsrep_sync_wait=1", scheme, pool_size=2)
    db_b = await make_db((2,), "wsrep_sync_wait=1", scheme, pool_size=2)
    user_id = await new_user(db_a)
    async with db_a.create_session() as session:
        task = await TaskService().create(session, TaskCreate(title="conflict", user_id=user_id))
    conflict = _Conflict(db_a, db_b, task.id)
    assert await conflict.description(db_b) is None  # B reads the task (a causal wait)
    return conflict


def _conflicts(status: dict[str, str]) -> tuple[int, int]:
    """Node-local transactions rolled back for a conflicting write set: at
    certification, and aborted by a write set applied first (brute force)."""
    return int(status["wsrep_local_cert_failures"]), int(status["wsrep_local_bf_aborts"])


@pytest.mark.parametrize("scheme", ["mysql", "mysql+asyncmy"])
async def test_a_certification_conflict_is_retried_by_run_in_transaction(
    cluster: GaleraCluster, make_db: MakeDb, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    conflict = await _conflict(make_db, scheme)
    before = _conflicts(await _wsrep_status(cluster, 1))
    caplog.set_level(logging.INFO, logger="rawrepo")

    b = asyncio.create_task(conflict.run_b())
    task = await conflict.db_a.run_in_transaction(conflict.fn_a, retries=3, backoff=0.01)
    await b

    after = _conflicts(await _wsrep_status(cluster, 1))
    cert_failures, bf_aborts = (a - b for a, b in zip(after, before, strict=True))
    retried = [r.getMessage() for r in caplog.records if "failed transiently" in r.getMessage()]
    _note(
        f"galera ({scheme}): certification conflict: fn ran {conflict.calls} times,"
        f" retried {len(retried)} ({'; '.join(retried)}); node 1 counted"
        f" {cert_failures} certification failure(s), {bf_aborts} brute-force abort(s)"
    )
    assert conflict.calls == 2  # the first run lost at COMMIT; the rerun went through
    assert retried and all("DeadlockDetected" in message for message in retried), retried
    assert cert_failures + bf_aborts >= 1  # Galera itself reports the conflict on node 1
    assert task.description == "BA"  # B's update, then A's on top of it: both kept
    assert await conflict.description(conflict.db_a) == "BA"
    assert await conflict.description(conflict.db_b) == "BA"


@pytest.mark.parametrize("scheme", ["mysql", "mysql+asyncmy"])
async def test_without_retries_the_certification_conflict_raises_deadlock_detected(
    make_db: MakeDb, scheme: str
) -> None:
    conflict = await _conflict(make_db, scheme)

    b = asyncio.create_task(conflict.run_b())
    with pytest.raises(DeadlockDetected) as raised:
        await conflict.db_a.run_in_transaction(conflict.fn_a, retries=0)
    await b

    _note(f"galera ({scheme}): without retries: {raised.value!r}")
    assert raised.value.sqlstate == "1213"
    assert conflict.calls == 1
    # A's change was rolled back on every node; B's alone is stored
    assert await conflict.description(conflict.db_a) == "B"
    assert await conflict.description(conflict.db_b) == "B"


# -- 3. read-your-writes across nodes --------------------------------------------------


async def test_wsrep_sync_wait_reads_every_write_of_another_node_at_once(
    cluster: GaleraCluster, make_db: MakeDb
) -> None:
    writer = await make_db((1,), pool_size=1)
    synced = await make_db((2,), "wsrep_sync_wait=1", pool_size=2)
    plain = await make_db((2,), pool_size=1)
    # both connections of the synced Database wait for causality; the plain one does not
    async with synced.create_session() as s1, synced.create_session() as s2:
        assert [await s.fetch_value(SYNC_WAIT) for s in (s1, s2)] == [1, 1]
        assert [await s.fetch_value(PORT) for s in (s1, s2)] == [cluster.nodes[1].port] * 2
    async with plain.create_session() as session:
        assert await session.fetch_value(SYNC_WAIT) == 0
    assert await _port(writer) == cluster.nodes[0].port
    user_id = await new_user(writer)
    tasks, service = TaskRepository(), TaskService()

    writes, misses_plain, misses_synced = 200, 0, 0
    waited: list[float] = []
    for n in range(writes):
        data = TaskCreate(title=f"ryw-{n}", user_id=user_id)

        async def create(session: Session, data: TaskCreate = data) -> Task:
            return await service.create(session, data)

        task = await writer.run_in_transaction(create)
        # first without the wait (it may read before node 2 applied the write set)...
        async with plain.create_session() as session:
            if await tasks.get(session, task.id) is None:
                misses_plain += 1
        # ...then with it: node 2 first applies everything committed so far
        start = time.perf_counter()
        async with synced.create_session() as session:
            if await tasks.get(session, task.id) is None:
                misses_synced += 1
        waited.append(time.perf_counter() - start)

    waited.sort()
    _note(
        f"galera: read-your-writes on node 2 after {writes} writes on node 1: missed"
        f" {misses_synced} with wsrep_sync_wait=1 (read median"
        f" {waited[len(waited) // 2] * 1000:.1f} ms, max {waited[-1] * 1000:.1f} ms),"
        f" {misses_plain} without it"
    )
    assert misses_synced == 0


# -- 4. a node killed under load (last: the cluster keeps two nodes afterwards) --------


async def test_a_killed_node_loses_no_acknowledged_write(
    cluster: GaleraCluster, make_db: MakeDb
) -> None:
    db = await make_db((1, 2, 3), pool_size=8, pool_timeout=30.0, connect_timeout=2.0)
    assert cluster.index_of((await db.health_check()).host) == 1
    user_id = await new_user(db)
    await _visible_on(make_db, (2, 3), user_id)  # the writers' FK checks on 2 and 3

    stop = asyncio.Event()
    report = WriteReport(user_id=user_id)
    writers = asyncio.create_task(
        run_writers(db, workers=8, stop=stop, user_id=user_id, prefix="kill", report=report)
    )
    try:
        await asyncio.sleep(2.0)
        assert report.acknowledged, "no write was acknowledged before the fault"
        cluster.kill(1)  # the node every connection is on
        await report.mark_fault_after_kill()
        deadline = time.monotonic() + 60
        while report.acknowledged_after_fault() < 30:
            assert not writers.done(), "the writers stopped"
            assert time.monotonic() < deadline, (
                f"only {report.acknowledged_after_fault()} writes were acknowledged in the"
                f" 60 s after node 1 was killed (failed so far: {len(report.failed)})"
            )
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await writers
    host = cluster.index_of((await db.health_check()).host)
    view = await cluster.await_view()

    verdicts = await _verify_everywhere(make_db, (2, 3), report)
    verdict = verdicts[0]
    downtime = report.downtime
    _note(
        f"galera: node 1 killed under 8 writers: client-observed downtime"
        f" {downtime if downtime is None else round(downtime, 2)} s, then"
        f" writing to node {host}; {report.acknowledged_after_fault()} acknowledged after"
        f" the fault;"
        f" survivors Synced in a 2-node view {view:.1f} s after the writers stopped;"
        f" {verdict.summary()}"
    )
    assert host in (2, 3)
    for index, found in zip((2, 3), verdicts, strict=True):
        assert found.lost == 0 and found.duplicated == 0, (index, found.summary())
        assert found.failed == 0 and found.failed_committed == 0, (index, report.failed)
        assert found.stored == verdict.stored, "the surviving nodes disagree"
    # every unknown outcome resolved by a replay with its idempotency key
    assert verdict.unresolved == 0 and verdict.stored == verdict.acknowledged, verdict.summary()
    assert verdict.rerun_committed == 0, verdict.summary()
    assert report.acknowledged_after_fault() > 0 and downtime is not None
