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
"""

from __future__ import annotations

import asyncio
import time

from rawrepo.drivers.base import Connection, Driver
from rawrepo.errors import PoolTimeoutError

__all__ = ["Pool"]


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
        self._slots = asyncio.Semaphore(self.max_size)
        self._idle: list[Connection] = []
        self._open = 0
        self._in_use = 0
        self._closed = False

    @property
    def size(self) -> int:
        """Connections open now (idle and in use)."""
        return self._open

    @property
    def in_use(self) -> int:
        """Connections handed out and not yet released."""
        return self._in_use

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def closed(self) -> bool:
        return self._closed

    async def acquire(self, timeout: float | None = None) -> tuple[Connection, bool]:
        """A usable connection and whether it was reused from the idle list."""
        wait = self.timeout if timeout is None else timeout
        try:
            if self._slots.locked():
                async with asyncio.timeout(wait):
                    await self._slots.acquire()
            else:  # a free slot and nobody queued before us: no timer needed
                await self._slots.acquire()
        except TimeoutError:
            raise PoolTimeoutError(
                f"no free connection after {wait:g}s (pool_timeout): all {self.max_size}"
                f" connections (pool_size {self.keep_idle} + max_overflow"
                f" {self.max_size - self.keep_idle}) are in use",
                hint="release sessions sooner, or raise DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW",
            ) from None
        try:
            conn, reused = await self._checkout()
        except BaseException:
            self._slots.release()
            raise
        self._in_use += 1
        return conn, reused

    async def _checkout(self) -> tuple[Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.is_closed() or now - conn.created_at >= self.recycle:
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
        """Give a connection back; ``discard`` closes it instead of keeping it."""
        self._in_use -= 1
        try:
            if (
                discard
                or self._closed
                or conn.is_closed()
                or len(self._idle) >= self.keep_idle
                or time.monotonic() - conn.created_at >= self.recycle
            ):
                await self._close(conn)
            else:
                self._idle.append(conn)
        finally:
            self._slots.release()

    async def forget(self, conn: Connection) -> None:
        """Release a connection that was already closed or aborted by its user."""
        self._in_use -= 1
        self._open -= 1
        self._slots.release()

    async def close(self) -> None:
        """Close the idle connections now; in-use ones are closed when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._close(conn)
