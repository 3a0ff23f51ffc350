"""One connection pool with the same rules for every driver.

- never more than ``size + max_overflow`` connections open at once;
- a caller waits at most ``timeout`` seconds for one, then gets PoolTimeoutError;
- up to ``size`` idle connections are kept (most recently used first); the
  overflow ones are closed when released;
- a connection older than ``recycle`` seconds, or known to be closed (the
  server killed it), is closed instead of being handed out.

rawrepo owns this pool rather than using each driver's own, so that the
settings mean the same on all three backends and no driver-specific reset
round trip runs on release (sessions always end with COMMIT or ROLLBACK).

Waiting is first come, first served: a released slot goes straight to the
longest waiter, so no caller starves while others take their connection straight
back. The waiters' timeouts share one timer (armed for the earliest deadline)
instead of one timer each: under load that was a sixth of the time of a point read.

Counters for a metrics exporter (:meth:`Pool.metrics`): ``acquisitions`` (connections
handed out), ``timeouts`` (callers that gave up waiting with PoolTimeoutError) and
``replaced`` (connections found dead or older than ``recycle`` and closed, a new
one taking their place on demand). They count from the pool's creation: a new
pool (after ``Database.disconnect()``) starts again at zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from dataclasses import dataclass

from rawrepo.drivers.base import Connection, Driver
from rawrepo.errors import PoolTimeoutError

__all__ = ["Pool", "PoolMetrics"]


@dataclass(frozen=True)
class PoolMetrics:
    """One reading of a pool's gauges and counters (see :meth:`Pool.metrics`)."""

    size: int
    """Connections open now, idle and in use."""
    max_size: int
    """The most that may be open at once (pool_size + max_overflow)."""
    in_use: int
    """Connections handed out and not yet given back."""
    idle: int
    """Open connections waiting in the pool."""
    waiting: int
    """Callers waiting for a connection right now."""
    acquisitions: int
    """Connections handed out since the pool was created."""
    timeouts: int
    """Callers that got PoolTimeoutError since the pool was created."""
    replaced: int
    """Connections closed because they were dead or older than pool_recycle (each
    replaced by a new one when next needed) since the pool was created."""


class Pool:
    """Connections for one Driver. Create it inside the event loop that will use it."""

    def __init__(
        self,
        driver: Driver,
        *,
        size: int,
        max_overflow: int,
        timeout: float,
        recycle: float,
        connect_timeout: float,
    ) -> None:
        self.driver = driver
        self.max_size = size + max_overflow
        self.keep_idle = size
        self.timeout = timeout
        self.recycle = recycle
        self.connect_timeout = connect_timeout
        self._free = self.max_size  # slots neither in use nor promised to a waiter
        self._waiters: deque[tuple[asyncio.Future[None], float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._idle: list[Connection] = []
        self._out: set[Connection] = set()  # handed out and not yet given back
        # host -> when a connection to it was found lost (failover): older connections
        # to that host are closed instead of handed out or kept
        self._lost: dict[str, float] = {}
        self._open = 0
        self._closed = False
        self.acquisitions = 0
        self.timeouts = 0
        self.replaced = 0

    @property
    def size(self) -> int:
        """Connections open now (idle and in use)."""
        return self._open

    @property
    def in_use(self) -> int:
        """Connections handed out and not yet released."""
        return len(self._out)

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        """Callers waiting for a connection right now."""
        return sum(1 for fut, _ in self._waiters if not fut.done())

    def metrics(self) -> PoolMetrics:
        """The pool's gauges and counters now (cheap: no I/O, no lock)."""
        return PoolMetrics(
            size=self._open,
            max_size=self.max_size,
            in_use=len(self._out),
            idle=len(self._idle),
            waiting=self.waiting,
            acquisitions=self.acquisitions,
            timeouts=self.timeouts,
            replaced=self.replaced,
        )

    async def acquire(self, timeout: float | None = None) -> tuple[Connection, bool]:
        """A usable connection and whether it was reused from the idle list."""
        if self._free > 0 and not self._waiters:
            self._free -= 1  # a free slot and nobody queued before us: no waiting at all
        else:
            wait = self.timeout if timeout is None else timeout
            try:
                await self._wait_for_slot(wait)
            except TimeoutError:
                self.timeouts += 1
                raise PoolTimeoutError(
                    f"no free connection after {wait:g}s (pool_timeout): all {self.max_size}"
                    f" connections (pool_size {self.keep_idle} + max_overflow"
                    f" {self.max_size - self.keep_idle}) are in use",
                    hint="release sessions sooner, or raise DATABASE_POOL_SIZE /"
                    " DATABASE_MAX_OVERFLOW",
                ) from None
        try:
            conn, reused = await self._checkout()
        except BaseException:
            self._release_slot()
            raise
        self._out.add(conn)
        self.acquisitions += 1
        return conn, reused

    async def _wait_for_slot(self, wait: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (fut, loop.time() + max(wait, 0.0))
        self._waiters.append(entry)
        if entry[1] < self._timer_at:
            self._arm(loop, entry[1])
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release_slot()  # granted just as this caller was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # the timer may have taken it off
                    self._waiters.remove(entry)
            raise

    def _release_slot(self) -> None:
        """Hand a slot to the longest waiter, or mark it free."""
        while self._waiters:
            fut, _ = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The shared timer: fail the waiters whose deadline has passed, re-arm for the rest."""
        self._timer, self._timer_at = None, math.inf
        now = loop.time() + 0.001  # call_at may fire up to the clock's resolution early
        waiting: deque[tuple[asyncio.Future[None], float]] = deque()
        for fut, deadline in self._waiters:
            if fut.done():
                continue
            if deadline <= now:
                fut.set_exception(TimeoutError())
            else:
                waiting.append((fut, deadline))
        self._waiters = waiting
        if waiting:
            self._arm(loop, min(deadline for _, deadline in waiting))

    async def _checkout(self) -> tuple[Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.is_closed() or now - conn.created_at >= self.recycle or self._stale(conn):
                self.replaced += 1
                await self._close(conn)
                continue
            return conn, True
        conn = await self.driver.connect(self.connect_timeout)
        self._open += 1
        return conn, False

    async def _close(self, conn: Connection) -> None:
        self._open -= 1
        await conn.close()

    async def release(self, conn: Connection, *, discard: bool = False) -> None:
        """Give a connection back; ``discard`` closes it instead of keeping it. Giving
        back a connection that is not out (twice, say) changes nothing."""
        if not self._give_back(conn):
            return
        try:
            if discard or self._closed or len(self._idle) >= self.keep_idle:
                await self._close(conn)
            elif (
                conn.is_closed()
                or time.monotonic() - conn.created_at >= self.recycle
                or self._stale(conn)
            ):
                self.replaced += 1
                await self._close(conn)
            else:
                self._idle.append(conn)
        finally:
            self._release_slot()

    def _stale(self, conn: Connection) -> bool:
        """Opened before its server was found gone (see :meth:`host_lost`)."""
        if not self._lost:
            return False
        lost = self._lost.get(conn.host)
        return lost is not None and conn.created_at <= lost

    async def host_lost(self, host: str) -> int:
        """A connection to ``host`` was lost, or the server there stopped taking writes
        (a failover): close the idle connections to it now, and the ones in use when
        they come back, instead of handing them out again. Connections opened later are
        kept. Returns how many idle ones were closed (counted in ``replaced``)."""
        self._lost[host] = time.monotonic()
        stale = [conn for conn in self._idle if conn.host == host]
        if not stale:
            return 0
        self._idle = [conn for conn in self._idle if conn.host != host]
        for conn in stale:
            self.replaced += 1
            await self._close(conn)
        return len(stale)

    async def forget(self, conn: Connection) -> None:
        """Release a connection that was already closed or aborted by its user (at most
        once: a second call for the same connection changes nothing)."""
        if self._give_back(conn):
            self._open -= 1
            self._release_slot()

    def _give_back(self, conn: Connection) -> bool:
        """Take ``conn`` off the handed-out set; False if it was not on it. Every slot
        and open count is settled once per acquire, whatever faults came between."""
        try:
            self._out.remove(conn)
        except KeyError:
            return False
        return True

    async def close(self) -> None:
        """Close the idle connections now; in-use ones are closed when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._close(conn)
