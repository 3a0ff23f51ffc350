"""A real Patroni cluster on loopback: one etcd and two PostgreSQL 15 members.

:class:`PatroniCluster` starts, in a temporary folder owned by the ``postgres`` OS user
(when the tests run as root every process runs as that user, as PostgreSQL demands):

- one etcd (v3 API; Patroni's ``etcd3`` DCS), its client and peer ports on 127.0.0.1;
- member ``pg1``: Patroni bootstraps it (initdb) and it takes the leader key;
- member ``pg2``: Patroni clones it from the leader (pg_basebackup) and it becomes the
  streaming *synchronous* standby.

Every port comes from :func:`free_port` on 127.0.0.1 (etcd client and peer, each
member's REST API and PostgreSQL port); the Unix sockets are in the temporary folder. The
machine's shared servers (PostgreSQL on 5432, MariaDB on 3306) are never touched: every
process the harness stops it started itself, and it stops it by pid.

Why ``synchronous_mode: true``: Patroni then keeps the standby in
``synchronous_standby_names``, so the primary acknowledges a COMMIT only once the
standby has flushed it, and Patroni promotes only that synchronous standby. A write
acknowledged to the client therefore survives the loss of the primary: the failover
test can demand that nothing acknowledged is lost. (With asynchronous replication a
failover may legitimately lose the last commits, and the test would prove nothing.)

Why :meth:`PatroniCluster.kill_leader` SIGKILLs *both* the leader's Patroni and its
postmaster: killing only the postmaster is a crash Patroni repairs in place (it restarts
PostgreSQL on the same member within a loop, no failover); killing only Patroni would
leave the postmaster serving writes while the leader key expires. Killing both at once
is a dead machine: the leader key expires after ``ttl`` seconds and Patroni on the
standby promotes it. The killed member's processes are its backends too: they quit on
their own when they see the postmaster gone, and :meth:`destroy` kills, by pid, any
that have not.

The Patroni timings (``ttl``, ``loop_wait``, ``retry_timeout``) are short, so that a
failover takes seconds rather than the default half minute, yet keep Patroni's rule
``loop_wait + 2 * retry_timeout <= ttl`` so that a loaded (shared, two-core) machine
does not demote a healthy leader.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.reliability.servers import ServerUnavailable, _as_root, _chown, _find, free_port

__all__ = ["ClusterError", "Failover", "Member", "PatroniCluster"]

PG_BIN = "/usr/lib/postgresql/15/bin"
SCOPE = "rawrepo-ha"

# Patroni's timings (seconds), written to bootstrap.dcs: the leader key lives ttl seconds
# unless the leader renews it (every loop_wait); a DCS or PostgreSQL call is retried for
# retry_timeout before the leader demotes itself. Patroni asks loop_wait + 2 *
# retry_timeout <= ttl.
TTL = 8
LOOP_WAIT = 1
RETRY_TIMEOUT = 3

START_TIMEOUT = 90.0  # one step of the start (the machine is shared: be patient)


class ClusterError(AssertionError):
    """Something the harness waited for did not happen (the message says what); an
    AssertionError so that the fixture and the test fail rather than error obscurely."""


@dataclass
class Member:
    """One Patroni member: its ports, folders and (while it runs) its Patroni process."""

    name: str
    pg_port: int
    api_port: int
    root: Path
    process: subprocess.Popen[bytes] | None = None
    # pids of the postmasters this member ran, and of their children (backends)
    postgres_pids: set[int] = field(default_factory=set)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "patroni.yml"

    @property
    def log(self) -> Path:
        return self.root / "patroni.log"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` of its PostgreSQL, as rawrepo's HealthStatus.host names it."""
        return f"127.0.0.1:{self.pg_port}"

    def url(self, database: str) -> str:
        """A single-host URL of this member's ``database`` (superuser, trusted)."""
        return f"postgresql://postgres@{self.host}/{database}"

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` (its first line) if that process is alive."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            if _alive(pid):
                return pid
        return None

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


@dataclass(frozen=True)
class Failover:
    """One failover the harness caused: the killed leader, the promoted member, and
    Patroni's own failover time (kill -> the other member leads, writable)."""

    old: Member
    new: Member
    killed_at: float  # time.monotonic()
    promoted_at: float

    @property
    def seconds(self) -> float:
        return self.promoted_at - self.killed_at


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> set[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _stop_pids(pids: set[int], timeout: float = 10.0) -> None:
    """SIGTERM ``pids``, then SIGKILL whichever still runs after ``timeout``."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)


def _http(port: int, path: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET a Patroni REST API path: (status, JSON body); (0, error) if it did not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as rsp:
            return rsp.status, json.loads(rsp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            return exc.code, json.loads(exc.read() or b"null")
        return exc.code, None
    except (OSError, ValueError) as exc:
        return 0, str(exc)


def _query(port: int, sql: str, timeout: float = 2.0) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the member's PostgreSQL (raises psycopg.Error if it cannot)."""
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="postgres",
        dbname="postgres",
        connect_timeout=max(1, int(timeout)),
        autocommit=True,
    ) as conn:
        return list(conn.execute(sql).fetchall())


class PatroniCluster:
    """etcd and two Patroni-managed PostgreSQL 15 members (see the module docstring).

    ``start()`` brings the cluster up (leader ``pg1``, sync standby ``pg2``);
    ``kill_leader()`` kills the current leader's machine (Patroni and postmaster);
    ``wait_for_leader(other_than=...)`` measures the failover; ``restart(member)`` lets
    a killed member rejoin (pg_rewind); ``destroy()`` stops everything and deletes the
    folder. Every method blocks: call it through ``asyncio.to_thread`` while writers run.
    """

    def __init__(self, *, ttl: int = TTL, loop_wait: int = LOOP_WAIT,
                 retry_timeout: int = RETRY_TIMEOUT) -> None:  # fmt: skip
        self.ttl, self.loop_wait, self.retry_timeout = ttl, loop_wait, retry_timeout
        self.patroni = _find(("patroni",), ("/usr/bin/patroni",))
        self.etcd_bin = _find(("etcd",), ("/usr/bin/etcd",))
        for tool in ("postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind"):
            if not os.access(f"{PG_BIN}/{tool}", os.X_OK):
                raise ServerUnavailable(f"{PG_BIN}/{tool} is missing (PostgreSQL 15 server)")
        self.root = Path(tempfile.mkdtemp(prefix="rawrepo-patroni-"))
        self.etcd_client = free_port()
        self.etcd_peer = free_port()
        self.etcd: subprocess.Popen[bytes] | None = None
        self.members = [
            Member(name, free_port(), free_port(), self.root / name) for name in ("pg1", "pg2")
        ]
        self.started: list[subprocess.Popen[bytes]] = []  # every process, for destroy()
        self.timings: dict[str, float] = {}
        self.failovers: list[Failover] = []

    # -- settings ---------------------------------------------------------------------

    @property
    def dcs_settings(self) -> dict[str, Any]:
        """The Patroni settings that decide the failover (as written to bootstrap.dcs)."""
        return {
            "ttl": self.ttl,
            "loop_wait": self.loop_wait,
            "retry_timeout": self.retry_timeout,
            "synchronous_mode": True,
            "maximum_lag_on_failover": 1048576,
        }

    def url(self, database: str) -> str:
        """The multi-host URL listing both members (rawrepo picks the writable one)."""
        hosts = ",".join(m.host for m in self.members)
        return f"postgresql://postgres@{hosts}/{database}"

    def member(self, host: str) -> Member:
        """The member whose PostgreSQL is at ``host`` (``127.0.0.1:PORT``)."""
        for m in self.members:
            if m.host == host:
                return m
        raise KeyError(host)

    def _config(self, member: Member) -> dict[str, Any]:
        return {
            "scope": SCOPE,
            "namespace": "/rawrepo/",
            "name": member.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{member.api_port}",
                "connect_address": f"127.0.0.1:{member.api_port}",
            },
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_client}"]},
            "bootstrap": {
                "dcs": {
                    **self.dcs_settings,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",  # pg_rewind needs it (or checksums)
                            "max_wal_senders": 5,
                            "max_replication_slots": 5,
                            "max_connections": 100,
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "no-sync"],
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{member.pg_port}",
                "connect_address": f"127.0.0.1:{member.pg_port}",
                "data_dir": str(member.data),
                "bin_dir": PG_BIN,
                "pgpass": str(member.root / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres"},
                    "replication": {"username": "postgres"},
                    "rewind": {"username": "postgres"},
                },
                "parameters": {
                    "unix_socket_directories": str(self.root),
                    "shared_buffers": "16MB",
                },
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication all 127.0.0.1/32 trust",
                ],
            },
            "watchdog": {"mode": "off"},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }

    # -- processes --------------------------------------------------------------------

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``args`` as the ``postgres`` OS user (under root), output to ``log``.

        Not through ``runuser``: it would fork, and the pid to kill would be runuser's,
        not the daemon's. Popen switches user itself, so ``process.pid`` is the daemon.
        """
        extra: dict[str, Any] = {}
        if _as_root():
            entry = pwd.getpwnam("postgres")
            extra = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": str(self.root), "LANG": "C.UTF-8"}
        with open(log, "ab") as out:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=env,
                start_new_session=True,
                **extra,
            )
        self.started.append(process)
        return process

    def start(self) -> float:
        """etcd, then pg1 until it leads, then pg2 until it is the sync standby; returns
        the seconds it took (also in ``timings["start"]``)."""
        began = time.monotonic()
        for member in self.members:
            member.root.mkdir()
            member.config.write_text(json.dumps(self._config(member), indent=1))  # JSON is YAML
        (self.root / "etcd").mkdir()
        if _as_root():
            _chown(self.root, "postgres")
        self.etcd = self._spawn(
            [
                self.etcd_bin,
                "--name", "etcd1",
                "--data-dir", str(self.root / "etcd" / "data"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_client}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_client}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster", f"etcd1=http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster-state", "new",
                "--initial-cluster-token", self.root.name,
                "--log-level", "warn",
                "--logger", "zap",
            ],
            self.root / "etcd" / "etcd.log",
        )  # fmt: skip
        self._wait(
            lambda: _http(self.etcd_client, "/health")[0] == 200,
            "etcd answering /health",
            lambda: (self.root / "etcd" / "etcd.log").read_text(errors="replace")[-2000:],
            process=self.etcd,
        )
        first, second = self.members
        self._start_patroni(first)
        self.wait_for_leader(expected=first)
        self.timings["leader_up"] = time.monotonic() - began
        self._start_patroni(second)
        self.wait_for_sync_standby(second)
        self.timings["start"] = time.monotonic() - began
        return self.timings["start"]

    def _start_patroni(self, member: Member) -> None:
        member.process = self._spawn([self.patroni, str(member.config)], member.log)

    def restart(self, member: Member) -> float:
        """Start the (killed) member's Patroni again: it rewinds its data (pg_rewind)
        and rejoins as a replica; returns once it is the sync standby again (seconds)."""
        began = time.monotonic()
        assert member.process is None, f"{member.name}'s Patroni still runs"
        self._start_patroni(member)
        self.wait_for_sync_standby(member)
        return time.monotonic() - began

    def kill_leader(self) -> tuple[Member, float]:
        """SIGKILL the current leader's Patroni *and* its postmaster (a dead machine,
        see the module docstring); returns the member and the monotonic kill time."""
        leader = self.leader()
        if leader is None:
            raise ClusterError(f"no member is the leader to kill: {self.describe()}")
        assert leader.process is not None
        postmaster = leader.postmaster_pid()
        if postmaster is None:
            raise ClusterError(f"{leader.name} has no running postmaster: {self.describe()}")
        backends = _children(postmaster)
        # Patroni first: once it is gone, nothing restarts the postmaster.
        leader.process.send_signal(signal.SIGKILL)
        _signal(postmaster, signal.SIGKILL)
        killed_at = time.monotonic()
        leader.process.wait(timeout=30)
        leader.process = None
        leader.postgres_pids |= {postmaster, *backends}
        # The backends and auxiliary processes see the postmaster gone and quit.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in leader.postgres_pids):
            time.sleep(0.05)
        for pid in leader.postgres_pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
        return leader, killed_at

    def failover(self, *, timeout: float = 60.0) -> Failover:
        """Kill the leader (:meth:`kill_leader`) and wait for the other member to lead
        (:meth:`wait_for_failover`)."""
        old, killed_at = self.kill_leader()
        return self.wait_for_failover(old, killed_at, timeout=timeout)

    # -- waiting ----------------------------------------------------------------------

    def _wait(
        self,
        check: Any,
        what: str,
        details: Any = None,
        *,
        timeout: float = START_TIMEOUT,
        process: subprocess.Popen[bytes] | None = None,
        interval: float = 0.1,
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception):
                if check():
                    return
            if process is not None and process.poll() is not None:
                raise ClusterError(
                    f"waiting for {what}: the process exited {process.returncode}:"
                    f" {details() if details else ''}"
                )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{what} did not happen within {timeout:g}s:"
                    f" {details() if details else self.describe()}"
                )
            time.sleep(interval)

    def cluster_view(self) -> list[dict[str, Any]]:
        """The members as some running member's REST ``/cluster`` sees them."""
        for member in self.members:
            if member.process is None:
                continue
            status, body = _http(member.api_port, "/cluster")
            if status == 200 and isinstance(body, dict):
                return list(body.get("members", []))
        return []

    def describe(self) -> str:
        """The cluster's state and each member's log tail, for a failure message."""
        lines = [f"cluster: {json.dumps(self.cluster_view())}"]
        for member in self.members:
            lines.append(f"--- {member.name} ({member.host}) log tail:\n{member.log_tail(1500)}")
        return "\n".join(lines)

    def leader(self) -> Member | None:
        """The running member whose REST API says it holds the leader key and is the
        primary (``GET /primary`` 200), or None."""
        for member in self.members:
            if member.process is not None and _http(member.api_port, "/primary")[0] == 200:
                return member
        return None

    def _writable(self, member: Member) -> bool:
        rows = _query(
            member.pg_port,
            "SELECT pg_catalog.pg_is_in_recovery(),"
            " pg_catalog.current_setting('transaction_read_only')",
            timeout=1,
        )
        return bool(rows) and rows[0][0] is False and rows[0][1] == "off"

    def wait_for_leader(
        self, *, expected: Member | None = None, timeout: float = START_TIMEOUT
    ) -> Member:
        """Wait until a member (``expected``, if given) is the leader by its REST API
        and its PostgreSQL is writable (``pg_is_in_recovery()`` false); returns it."""
        found: list[Member] = []

        def check() -> bool:
            leader = self.leader()
            if leader is None or (expected is not None and leader is not expected):
                return False
            if not self._writable(leader):
                return False
            found.append(leader)
            return True

        name = expected.name if expected else "a member"
        self._wait(check, f"{name} becoming the writable leader", timeout=timeout,
                   process=expected.process if expected else None,
                   details=self.describe)  # fmt: skip
        return found[0]

    def wait_for_failover(
        self, old: Member, killed_at: float, *, timeout: float = 60.0
    ) -> Failover:
        """Wait until the other member than ``old`` (killed at ``killed_at``) is the
        writable leader; the Failover is also appended to ``failovers``."""
        (survivor,) = [m for m in self.members if m is not old]
        new = self.wait_for_leader(expected=survivor, timeout=timeout)
        done = Failover(old, new, killed_at, time.monotonic())
        self.failovers.append(done)
        return done

    def wait_for_sync_standby(self, member: Member, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``member`` streams from the leader as its *synchronous* standby:
        Patroni's ``GET /sync`` answers 200 on it, and the leader's
        ``pg_stat_replication`` shows it streaming with ``sync_state = 'sync'``."""

        def check() -> bool:
            if _http(member.api_port, "/sync")[0] != 200:
                return False
            leader = self.leader()
            if leader is None or leader is member:
                return False
            rows = _query(
                leader.pg_port,
                "SELECT state, sync_state FROM pg_catalog.pg_stat_replication"
                f" WHERE application_name = '{member.name}'",
            )
            return ("streaming", "sync") in rows

        self._wait(check, f"{member.name} streaming as the sync standby", timeout=timeout,
                   process=member.process, details=self.describe, interval=0.2)  # fmt: skip

    # -- teardown ---------------------------------------------------------------------

    def destroy(self) -> None:
        """Stop every process the harness started, by pid (SIGTERM, then SIGKILL), and
        delete the folder. Patroni first (it stops its PostgreSQL), then any postmaster
        or backend left, then etcd."""
        running = [m.process for m in self.members if m.process is not None]
        patronis = {p.pid for p in running if p.poll() is None}
        for member in self.members:
            pid = member.postmaster_pid()
            if pid is not None:
                member.postgres_pids |= {pid, *_children(pid)}
        _stop_pids(patronis, timeout=20)
        for pid in patronis:  # what a Patroni ran in its own group (a pg_basebackup, say)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # its group id: started with a new session
        postgres = {p for m in self.members for p in m.postgres_pids}
        for member in self.members:
            pid = member.postmaster_pid()  # one Patroni started while we looked
            if pid is not None:
                postgres |= {pid, *_children(pid)}
        _stop_pids({p for p in postgres if _alive(p)}, timeout=10)
        rest = {p.pid for p in self.started if p.poll() is None}
        _stop_pids(rest, timeout=10)
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for member in self.members:
            member.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PatroniCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
