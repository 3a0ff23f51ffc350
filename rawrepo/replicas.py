"""Read replicas: routing read-only sessions, and read-your-writes by position.

A :class:`~rawrepo.Database` with ``replica_urls`` (or ``DATABASE_REPLICA_URLS``)
keeps one pool per replica, with the primary's pool settings, in a
:class:`ReplicaSet`. ``db.create_session(readonly=True, after=token)`` opens a
session on a replica, taking them in turn (round-robin) and skipping any in
cool-down, and only once that replica has applied ``token`` (see
:mod:`rawrepo.drivers.replication`); it waits up to ``replica_wait`` seconds for
one to catch up, then reads from the primary instead.

Faults: a replica that refuses a connection, drops one, lags beyond
``replica_max_lag`` or is not replicating is skipped for ``replica_cooldown``
seconds, then tried again. A read that fails on a replica with a connection error
before returning anything runs again on the next replica or the primary (a
read-only session never writes, so the retry cannot repeat a change). With every
replica down, read-only sessions use the primary.

A session that committed a write records a token (one extra round trip after
COMMIT, only when replicas are configured); ``db.write_token`` is the latest one
committed through that Database, and read-only sessions wait for it by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rawrepo.config import DatabaseURL, Settings, mask_url
from rawrepo.drivers.base import Connection, load_driver
from rawrepo.drivers.replication import ReplicaStatus, Replication, replication_for
from rawrepo.errors import ConfigurationError, ConnectionFailed, DatabaseError
from rawrepo.pool import Pool

if TYPE_CHECKING:
    from rawrepo.database import Session

__all__ = ["LAG_CHECK_INTERVAL", "ReadRoute", "ReplicaHealth", "ReplicaSet"]

logger = logging.getLogger("rawrepo")

LAG_CHECK_INTERVAL = 1.0
"""Seconds a replica's measured lag is trusted before it is measured again."""


@dataclass(frozen=True)
class ReplicaHealth:
    """One replica in :attr:`HealthStatus.replicas <rawrepo.HealthStatus.replicas>`."""

    url: str
    """The replica's URL, password masked."""
    healthy: bool
    """Reads would use it now: it answers, replicates, and lags no more than allowed."""
    lag_seconds: float | None
    """How far behind it is (None: unknown, e.g. unreachable or replication stopped)."""
    error: str | None = None
    """Why it is not healthy (never holds a password)."""


class _Replica:
    """One replica: its pool and what rawrepo last learned about it."""

    def __init__(self, url: DatabaseURL, pool: Pool) -> None:
        self.url = url
        self.pool = pool
        self.down_until = 0.0
        self.error: str | None = None
        self.lag: float | None = None
        self.lag_note: str | None = None
        self.lag_at = -float("inf")
        self.is_replica = True
        self.is_primary = False
        """The URL leads to the primary itself (a setup written for replicas before
        there are any): it has every write and no lag."""
        self.position: str | None = None
        """A position it is known to have applied (positions only grow while it runs;
        forgotten when it fails, in case it comes back as another server)."""

    def __repr__(self) -> str:
        return f"<replica {self.url}>"

    def scrub(self, text: str) -> str:
        text = mask_url(text)
        if self.url.password:
            text = text.replace(self.url.password, "***")
        return text

    def available(self, now: float) -> bool:
        return now >= self.down_until

    def note(self, status: ReplicaStatus, now: float) -> None:
        self.is_replica = status.is_replica or self.is_primary
        self.lag = 0.0 if self.is_primary else status.lag_seconds
        self.lag_note = None if self.is_primary else status.note
        self.lag_at = now


class ReplicaSet:
    """The replicas of one Database; made by the Database, not by users."""

    def __init__(self, settings: Settings, connect_timeout: float) -> None:
        self.settings = settings
        self.urls = settings.replica_urls
        self.max_lag = settings.replica_max_lag
        self.wait = settings.replica_wait
        self.cooldown = settings.replica_cooldown
        self.connect_timeout = connect_timeout
        self.ops: Replication = replication_for(settings.url.dialect)
        self._drivers = []
        for url in self.urls:
            if (
                url.dialect == "postgresql"
                and len(url.hosts) > 1
                and "target_session_attrs" not in url.query
            ):
                # a replica URL listing several servers reads from a standby among them
                # (the primary only when none answers), not from the writable one
                url = dataclasses.replace(
                    url, query={**url.query, "target_session_attrs": "prefer-standby"}
                )
            try:
                self._drivers.append(load_driver(url))
            except ConfigurationError as exc:  # the driver names DATABASE_URL
                raise ConfigurationError(
                    f"replica {url}: {exc.message}",
                    variable="DATABASE_REPLICA_URLS",
                    hint=exc.hint,
                ) from None
        self._replicas: list[_Replica] = []
        self._turn = itertools.count()
        self.write_token: str | None = None
        self._primary_identity: str | None = None
        self.reads_on_replicas = 0
        """Read-only sessions opened on a replica (counted for tests and benchmarks)."""
        self.reads_on_primary = 0
        """Read-only sessions (or retries) that had to use the primary."""

    @property
    def replicas(self) -> list[_Replica]:
        return self._replicas

    def open(self) -> None:
        """Make the pools (connections open on demand), inside the running event loop."""
        if self._replicas:
            return
        s = self.settings
        self._replicas = [
            _Replica(
                url,
                Pool(
                    driver,
                    size=s.pool_size,
                    max_overflow=s.max_overflow,
                    timeout=s.pool_timeout,
                    recycle=s.pool_recycle,
                    connect_timeout=self.connect_timeout,
                ),
            )
            for url, driver in zip(self.urls, self._drivers, strict=True)
        ]

    async def close(self) -> None:
        replicas, self._replicas = self._replicas, []
        for replica in replicas:
            await replica.pool.close()

    # -- tokens ------------------------------------------------------------------

    def normalize(self, token: str) -> str:
        return self.ops.normalize(token)

    def remember(self, token: str) -> None:
        current = self.write_token
        self.write_token = token if current is None else self.ops.later(current, token)

    async def record_commit(self, session: Session, conn: Connection) -> bool:
        """After ``session`` committed a write on ``conn``: note its token. False if
        ``conn`` could not say (then it may be broken: the caller takes it out of
        service and asks :meth:`record_from_pool`)."""
        try:
            token = await self.ops.commit_position(conn)
        except DatabaseError:
            return False
        self._set(session, token)
        return True

    async def record_from_pool(
        self, session: Session, primary: Pool, cause: BaseException | None = None
    ) -> None:
        """The primary's current position as ``session``'s token, read on another
        connection (after a commit whose own connection could not say)."""
        try:
            conn, _ = await primary.acquire()
        except DatabaseError as exc:
            self._lost(cause or exc)
            return
        try:
            token = await self.ops.server_position(conn)
        except DatabaseError as exc:
            await conn.close()
            await primary.forget(conn)
            self._lost(cause or exc)
            return
        await primary.release(conn)
        self._set(session, token)

    def _set(self, session: Session, token: str | None) -> None:
        session._write_token = token
        if token is not None:
            self.remember(token)

    @staticmethod
    def _lost(exc: BaseException) -> None:
        logger.warning(
            "a write committed, but its replication position could not be read (%s):"
            " read-only sessions may not see it until the replicas catch up",
            mask_url(str(exc)),
        )

    # -- routing -----------------------------------------------------------------

    def candidates(self, exclude: set[int]) -> Iterator[_Replica]:
        """The available replicas, starting with the next one in turn."""
        replicas = self._replicas
        if not replicas:
            return
        now = time.monotonic()
        start = next(self._turn) % len(replicas)
        for i in range(len(replicas)):
            replica = replicas[(start + i) % len(replicas)]
            if id(replica) not in exclude and replica.available(now):
                yield replica

    def mark_down(self, replica: _Replica, reason: str) -> None:
        replica.down_until = time.monotonic() + self.cooldown
        replica.position = None
        replica.error = replica.scrub(reason)
        logger.warning("replica %s skipped for %gs: %s", replica.url, self.cooldown, replica.error)

    def lag_problem(self, replica: _Replica) -> str | None:
        """Why ``replica`` may not serve reads, from its last status (None: it may)."""
        if not replica.is_replica:
            return replica.lag_note or "not a replica"
        if self.max_lag is None:
            return None
        if replica.lag is None:
            return f"lag unknown: {replica.lag_note}" if replica.lag_note else "lag unknown"
        if replica.lag > self.max_lag:
            return f"lags {replica.lag:.3g}s, more than replica_max_lag {self.max_lag:g}s"
        return None

    def learned(self, replica: _Replica, position: str) -> None:
        known = replica.position
        replica.position = position if known is None else self.ops.later(known, position)

    async def has(self, replica: _Replica, conn: Connection, token: str) -> bool:
        """Whether ``replica`` has applied ``token``: free when an earlier check saw it
        at or past the token, else one round trip (which updates what is known)."""
        known = replica.position
        if replica.is_primary or (known is not None and self.ops.covers(known, token)):
            return True
        applied = await self.ops.applied(conn)
        if applied is None:
            return False
        self.learned(replica, applied)
        return self.ops.covers(applied, token)

    async def check(self, replica: _Replica, conn: Connection, primary: Pool) -> str | None:
        """Measure ``replica``'s lag on ``conn`` if the last measurement is old (only
        when a lag limit is set; a first use always checks that it is a replica)."""
        now = time.monotonic()
        if now - replica.lag_at >= LAG_CHECK_INTERVAL and (
            self.max_lag is not None or replica.lag_at == -float("inf")
        ):
            await self.note(replica, conn, await self.ops.replica_status(conn), primary)
        return self.lag_problem(replica)

    async def note(
        self, replica: _Replica, conn: Connection, status: ReplicaStatus, primary: Pool
    ) -> None:
        """Keep ``status``; a server that replicates from nobody may be the primary."""
        if not status.is_replica and not replica.is_primary:
            mine = await self.ops.identity(conn)
            replica.is_primary = mine == await self._primary_id(primary)
        replica.note(status, time.monotonic())

    async def _primary_id(self, primary: Pool) -> str | None:
        if self._primary_identity is None:
            try:
                conn, _ = await primary.acquire()
            except DatabaseError:
                return None
            try:
                self._primary_identity = await self.ops.identity(conn)
            except DatabaseError:
                await conn.close()
                await primary.forget(conn)
                return None
            await primary.release(conn)
        return self._primary_identity

    # -- health ------------------------------------------------------------------

    async def health(self, timeout: float, primary: Pool) -> list[ReplicaHealth]:
        """Each replica's state, measured now (never raises)."""
        self.open()
        return list(
            await asyncio.gather(*(self._health(r, timeout, primary) for r in self._replicas))
        )

    async def _health(self, replica: _Replica, timeout: float, primary: Pool) -> ReplicaHealth:
        url = str(replica.url)
        try:
            async with asyncio.timeout(timeout):
                await self._status(replica, timeout, primary)
        except TimeoutError:
            error = f"no answer within {timeout:g}s"
            self.mark_down(replica, error)
            return ReplicaHealth(url, False, None, error)
        except Exception as exc:
            error = replica.scrub(str(exc)) or type(exc).__name__
            self.mark_down(replica, error)
            return ReplicaHealth(url, False, None, error)
        problem = self.lag_problem(replica)
        if problem is None:
            replica.down_until, replica.error = 0.0, None
        return ReplicaHealth(url, problem is None, replica.lag, problem)

    async def _status(self, replica: _Replica, timeout: float, primary: Pool) -> None:
        """Ask ``replica`` how it is (and note it)."""
        pool = replica.pool
        while True:
            conn, reused = await pool.acquire(timeout=min(pool.timeout, timeout))
            try:
                status = await self.ops.replica_status(conn)
                await self.note(replica, conn, status, primary)
            except ConnectionFailed:
                await conn.close()
                await pool.forget(conn)
                if reused:
                    continue  # closed while idle: ask on a fresh connection
                raise
            except BaseException:
                await conn.close()
                await pool.forget(conn)
                raise
            await pool.release(conn)
            return


class ReadRoute:
    """Where one read-only session reads: a replica that has ``token``, or the primary."""

    __slots__ = ("_deadline", "_replicas", "_tried", "current", "primary", "token")

    def __init__(self, replicas: ReplicaSet, primary: Pool, token: str | None) -> None:
        self._replicas = replicas
        self.primary = primary
        self.token = token
        self.current: _Replica | None = None
        self._tried: set[int] = set()
        self._deadline = time.monotonic() + replicas.wait

    @property
    def on_replica(self) -> bool:
        return self.current is not None

    async def open(self) -> tuple[Pool, Connection, bool]:
        """The session's first connection."""
        return await self._choose()

    async def replace(self, stale: bool) -> tuple[Pool, Connection, bool]:
        """The session's connection failed (already taken out of its pool): a new one.
        A reused idle connection (``stale``) may just have been closed while idle, so
        its replica is asked again; a fresh one failing puts the replica in cool-down."""
        replica = self.current
        if replica is not None and not stale:
            self._replicas.mark_down(replica, "the connection failed during a read")
            self._tried.add(id(replica))
        elif replica is not None:
            try:
                conn, reused = await replica.pool.acquire()
            except ConnectionFailed as exc:
                self._replicas.mark_down(replica, str(exc))
                self._tried.add(id(replica))
            else:
                return replica.pool, conn, reused
        if replica is None:  # on the primary: as a session without replicas would
            conn, reused = await self.primary.acquire()
            return self.primary, conn, reused
        return await self._choose()

    async def _choose(self) -> tuple[Pool, Connection, bool]:
        replicas = self._replicas
        behind: tuple[_Replica, Connection, bool] | None = None
        for replica in replicas.candidates(self._tried):
            got = await self._connect(replica)
            if got is None:
                continue
            conn, reused, caught_up = got
            if caught_up:
                if behind is not None:
                    await behind[0].pool.release(behind[1])
                return self._use(replica, conn, reused)
            if behind is None:
                behind = (replica, conn, reused)  # the one to wait on, if none is ahead
            else:
                await replica.pool.release(conn)
        if behind is not None:
            replica, conn, reused = behind
            left = self._deadline - time.monotonic()
            token = self.token or ""
            try:
                reached = left > 0 and await replicas.ops.reached(conn, token, left)
            except DatabaseError as exc:
                await self._drop(replica, conn, exc)
            else:
                if reached:
                    replicas.learned(replica, token)
                    return self._use(replica, conn, reused)
                await replica.pool.release(conn)
        self.current = None
        replicas.reads_on_primary += 1
        conn, reused = await self.primary.acquire()
        return self.primary, conn, reused

    def _use(
        self, replica: _Replica, conn: Connection, reused: bool
    ) -> tuple[Pool, Connection, bool]:
        self.current = replica
        self._replicas.reads_on_replicas += 1
        return replica.pool, conn, reused

    async def _connect(self, replica: _Replica) -> tuple[Connection, bool, bool] | None:
        """A connection to ``replica`` if it may serve this session: (connection,
        reused, whether it already has the token), or None (it went into cool-down)."""
        replicas = self._replicas
        while True:
            try:
                conn, reused = await replica.pool.acquire()
            except ConnectionFailed as exc:
                replicas.mark_down(replica, str(exc))
                self._tried.add(id(replica))
                return None
            try:
                problem = await replicas.check(replica, conn, self.primary)
                caught_up = problem is None and (
                    self.token is None or await replicas.has(replica, conn, self.token)
                )
            except ConnectionFailed as exc:
                await conn.close()
                await replica.pool.forget(conn)
                if reused:
                    continue  # an idle connection closed under the pool: try a fresh one
                replicas.mark_down(replica, str(exc))
                self._tried.add(id(replica))
                return None
            except DatabaseError as exc:
                await self._drop(replica, conn, exc)
                return None
            if problem is not None:
                await replica.pool.release(conn)
                replicas.mark_down(replica, problem)
                self._tried.add(id(replica))
                return None
            return conn, reused, caught_up

    async def _drop(self, replica: _Replica, conn: Connection, exc: BaseException) -> None:
        with contextlib.suppress(Exception):
            await conn.close()
        await replica.pool.forget(conn)
        self._replicas.mark_down(replica, str(exc))
        self._tried.add(id(replica))
