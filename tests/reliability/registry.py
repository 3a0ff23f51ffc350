"""The throwaway servers of a test session, set up on first use and deleted at its end
(the fault suite's single servers, the replication suite's primary + replicas)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypeVar

import pytest

from rawrepo.testing import required_backends

from .servers import ServerUnavailable


class _Server(Protocol):
    def setup(self) -> None: ...

    def destroy(self) -> None: ...


S = TypeVar("S", bound=_Server)


class Registry(Generic[S]):
    """One server (or set of servers) per backend, made by ``factories[backend]()``.

    A backend whose server cannot be set up skips its tests with the reason, or fails
    them when ``RAWREPO_TEST_REQUIRE`` names the backend (as in CI)."""

    def __init__(self, factories: Mapping[str, Callable[[], S]], purpose: str) -> None:
        self.factories = factories
        self.purpose = purpose
        self.servers: dict[str, S] = {}
        self.failures: dict[str, str] = {}
        self.startup_s: dict[str, float] = {}

    def get(self, backend: str) -> S:
        if backend in self.failures:
            self._unavailable(backend, self.failures[backend])
        server = self.servers.get(backend)
        if server is None:
            started = time.monotonic()
            try:
                server = self.factories[backend]()
                self.servers[backend] = server
                server.setup()
            except (ServerUnavailable, OSError, KeyError) as exc:
                self.failures[backend] = str(exc)
                self._unavailable(backend, str(exc))
            self.startup_s[backend] = time.monotonic() - started
        return server

    def _unavailable(self, backend: str, reason: str) -> None:
        text = f"cannot start {self.purpose} ({backend}): {reason}"
        if backend in required_backends():
            pytest.fail(f"RAWREPO_TEST_REQUIRE names {backend}, but {text}", pytrace=False)
        pytest.skip(text)

    def destroy(self) -> None:
        for server in self.servers.values():
            server.destroy()
        self.servers.clear()
