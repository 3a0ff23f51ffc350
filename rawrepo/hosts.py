"""Several hosts in one URL: try them in turn and say which one failed and why.

``postgresql://app@h1:5432,h2:5433/app`` and ``mysql://app@h1:3306,h2:3307/app`` list
the members of a cluster. A new connection tries the hosts in order, starting with the
one that took the last connection (so a dead first host costs one failed attempt after a
failover, not one per connection), and moves on when a host refuses, times out or is
not the kind of server asked for (PostgreSQL's ``target_session_attrs``). When none
takes it, the error lists every host with its reason, the password masked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from rawrepo.errors import ConnectionFailed, ConnectionLost

__all__ = ["TARGET_SESSION_ATTRS", "HostList", "NotTargetServer", "connect_first"]

T = TypeVar("T")

TARGET_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
"""The values of PostgreSQL's ``target_session_attrs`` option, as libpq accepts them."""


class NotTargetServer(ConnectionLost):
    """The host answered, but is not the kind of server asked for (e.g. a standby or a
    read-only server for ``target_session_attrs=read-write``); the next host is tried."""


def hostport(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HostList:
    """The hosts of one URL, tried in order from the one that last took a connection."""

    __slots__ = ("_first", "hosts")

    def __init__(self, hosts: Sequence[tuple[str, int]]) -> None:
        self.hosts = tuple(hosts)
        self._first = 0

    def order(self) -> list[tuple[str, int]]:
        """The hosts in the order to try now."""
        return [*self.hosts[self._first :], *self.hosts[: self._first]]

    def worked(self, host: tuple[str, int]) -> None:
        """``host`` took a connection: try it first next time."""
        self._first = self.hosts.index(host)


async def connect_first(
    hosts: HostList,
    attempt: Callable[[str, int], Awaitable[T]],
    *,
    describe: str,
) -> T:
    """The result of ``attempt(host, port)`` for the first host where it succeeds.

    ``attempt`` raises ConnectionFailed (ConnectionLost when the host is down or not
    the kind asked for). When every host fails: one host's own error; with several, a
    ConnectionLost if any host may come back (down, or not writable yet), else a plain
    ConnectionFailed (e.g. every host refused the login), naming each host's reason.
    ``describe`` is the masked URL for the message.
    """
    failures: list[tuple[str, ConnectionFailed]] = []
    for host, port in hosts.order():
        try:
            result = await attempt(host, port)
        except ConnectionFailed as exc:
            if exc.host is None:
                exc.host = hostport(host, port)
            failures.append((hostport(host, port), exc))
            continue
        hosts.worked((host, port))
        return result
    if len(failures) == 1:
        raise failures[0][1]
    reasons = "; ".join(f"{name}: {exc.message}" for name, exc in failures)
    cls = (
        ConnectionLost
        if any(isinstance(e, ConnectionLost) for _, e in failures)
        else (ConnectionFailed)
    )
    error = cls(
        f"cannot connect to {describe}: no host took the connection ({reasons})",
        sqlstate=failures[-1][1].sqlstate,
        host=", ".join(name for name, _ in failures),
    )
    raise error from failures[-1][1]
