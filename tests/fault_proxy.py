"""A TCP proxy on loopback that cuts a connection at a chosen message, once.

It stands between a client and a real server (PostgreSQL or MySQL) and forwards bytes
both ways. Armed with :meth:`FaultProxy.cut`, it watches what the client sends for a
marker (``b"COMMIT"``, a query tag ``b"rawrepo:tasks.create"``):

- ``when="before"``: the message with the marker is not forwarded; both sides of that
  connection are closed. The server never sees it (and rolls the transaction back).
- ``when="after"``: the message is forwarded; the server's answer is read and dropped,
  then both sides are closed. The server did the work (a COMMIT committed), but the
  client never hears so.

After one cut the proxy forwards everything again, so a retry on a new connection goes
through.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

__all__ = ["FaultProxy"]


class FaultProxy:
    """``async with FaultProxy(port) as proxy``: listens on ``proxy.port``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0  # client connections accepted
        self.cuts = 0
        self._marker: bytes | None = None
        self._when: Literal["before", "after"] = "before"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[object]] = set()

    def cut(self, marker: bytes, when: Literal["before", "after"]) -> None:
        """Cut the next connection that sends ``marker``, ``before`` or ``after`` the
        server gets that message."""
        self._marker, self._when = marker, when

    @property
    def armed(self) -> bool:
        return self._marker is not None

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in [*self._tasks, *self._handlers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._handlers, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        drop_reply = asyncio.Event()
        done = asyncio.Event()

        def close_both() -> None:
            client_w.close()
            server_w.close()
            done.set()

        async def upstream() -> None:
            try:
                while chunk := await client_r.read(65536):
                    marker = self._marker
                    if marker is not None and marker in chunk:
                        self._marker = None
                        self.cuts += 1
                        if self._when == "before":
                            return
                        drop_reply.set()
                    server_w.write(chunk)
                    await server_w.drain()
            except OSError:
                pass
            finally:
                close_both()

        async def downstream() -> None:
            try:
                while chunk := await server_r.read(65536):
                    if drop_reply.is_set():
                        return  # the server answered; the client never hears it
                    client_w.write(chunk)
                    await client_w.drain()
            except OSError:
                pass
            finally:
                close_both()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        self._tasks.update(tasks)
        try:
            with contextlib.suppress(Exception):
                await done.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
            self._writers -= {client_w, server_w}
