"""A throwaway three-node MariaDB Galera cluster on loopback, started by the tests.

Galera is synchronous multi-primary replication: every node takes writes. A
transaction runs on its own node alone, with that node's locks only; at COMMIT its
write set is sent to the whole group in one total order and *certified* on every
node against the write sets ordered before it. When another node committed a change
to the same rows first, the later transaction fails certification and rolls back,
and MariaDB reports that to the client as a deadlock (error 1213, what rawrepo
raises as DeadlockDetected and ``run_in_transaction`` retries). A certified write
set is applied on the other nodes a moment later, so a read on another node may
not see a commit yet; ``wsrep_sync_wait`` makes a node wait until it has applied
everything the cluster had committed when the read arrived (read-your-writes).

The cluster (:class:`GaleraCluster`):

- each node is a ``mariadbd`` (Debian's MariaDB 10.11 with the galera-4 provider,
  ``/usr/lib/galera/libgalera_smm.so``) built on the fault suite's
  :class:`~tests.reliability.servers.MariaDBServer`: its data folder, socket, pid file
  and error log in its own temporary folder (never the machine's shared server's
  ``/run/mysqld`` files), run as the ``mysql`` OS user under root, on 127.0.0.1 only;
- every port is a free one: the SQL port, the group port (``gmcast.listen_addr`` and
  ``wsrep_node_address``), the incremental state transfer port (``ist.recv_addr``)
  and the snapshot state transfer port (``wsrep_sst_receive_address``);
- node 1 bootstraps a new cluster (``--wsrep-new-cluster``, ``gcomm://``); nodes 2
  and 3 then join it one after the other and receive its data by a full state
  snapshot with rsync (``wsrep_sst_method=rsync``); the cluster is ready when every
  node reports ``wsrep_cluster_size`` = 3, ``wsrep_local_state_comment`` = Synced
  and ``wsrep_ready`` = ON. :attr:`GaleraCluster.timings` holds how long each step
  took;
- :meth:`GaleraCluster.kill` SIGKILLs one node's mariadbd (a crash); the others keep
  their quorum (two of three) and go on once the group has evicted it;
- :meth:`GaleraCluster.destroy` stops every mariadbd it started, by pid (SIGTERM,
  then SIGKILL), and deletes the folders, whatever happened before.

Whatever the harness cannot do (a missing binary, a node that does not join) raises
:class:`~tests.reliability.servers.ServerUnavailable` naming what did not happen.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pymysql

import rawrepo.migrate
from rawrepo.config import parse_url
from rawrepo.drivers.base import load_driver
from tests.reliability.servers import (
    MariaDBServer,
    ServerUnavailable,
    _as_root,
    _chown,
    _find,
    free_port,
)

__all__ = ["GALERA_PROVIDER", "GaleraCluster", "GaleraNode"]

GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
BOOTSTRAP_TIMEOUT = 60.0
JOIN_TIMEOUT = 120.0  # a joiner's full state transfer (rsync), on a busy 2-core machine
VIEW_TIMEOUT = 60.0  # the survivors' new view after a node is killed

# The group's failure detector: a node that stops answering is suspected after
# evs.suspect_timeout and evicted once every other member suspects it. Shorter than the
# defaults (5 s / 15 s) so that a killed node costs a few seconds of stalled commits,
# not ten; still well above a loaded machine's scheduling hiccups.
EVS_OPTIONS = (
    "evs.keepalive_period=PT0.5S",
    "evs.inactive_check_period=PT0.5S",
    "evs.suspect_timeout=PT3S",
    "evs.inactive_timeout=PT6S",
)


class GaleraNode(MariaDBServer):
    """One mariadbd of the cluster; :meth:`start` launches it without waiting (the
    cluster waits until it is Synced)."""

    def __init__(self, index: int, cluster_name: str, ports: Sequence[int]) -> None:
        super().__init__()
        self.index = index
        self.cluster_name = cluster_name
        self.port, self.group_port, self.ist_port, self.sst_port = ports
        self.cluster_address = "gcomm://"
        self.new_cluster = False
        self.started_at: float | None = None

    @property
    def name(self) -> str:
        return f"node {self.index} (port {self.port})"

    @property
    def group_address(self) -> str:
        return f"127.0.0.1:{self.group_port}"

    def galera_args(self) -> list[str]:
        provider_options = ";".join(
            (
                f"gmcast.listen_addr=tcp://127.0.0.1:{self.group_port}",
                f"ist.recv_addr=127.0.0.1:{self.ist_port}",
                f"base_port={self.group_port}",
                "gcache.size=32M",
                *EVS_OPTIONS,
            )
        )
        args = [
            "--wsrep-on=ON",
            f"--wsrep-provider={GALERA_PROVIDER}",
            f"--wsrep-cluster-name={self.cluster_name}",
            f"--wsrep-cluster-address={self.cluster_address}",
            f"--wsrep-node-name=node{self.index}",
            f"--wsrep-node-address={self.group_address}",
            f"--wsrep-node-incoming-address=127.0.0.1:{self.port}",
            f"--wsrep-provider-options={provider_options}",
            "--wsrep-sst-method=rsync",
            f"--wsrep-sst-receive-address=127.0.0.1:{self.sst_port}",
            "--binlog-format=ROW",
            "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2",
            # durability across a crash comes from the other nodes' copies; a killed
            # mariadbd (not a lost machine) keeps its OS-cached redo log anyway
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-log-file-size=16M",
        ]
        if self.new_cluster:
            args.append("--wsrep-new-cluster")
        return args

    def start(self) -> None:
        args = self.command(*self.galera_args())
        self.started_at = time.monotonic()
        # The SST script (wsrep_sst_rsync) runs rsync and friends from PATH.
        env = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", env=env
        )
        self.running = True

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def status(self) -> dict[str, str]:
        """The node's ``wsrep_%`` status variables (raises OSError/pymysql errors)."""
        conn = pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", connect_timeout=2, read_timeout=5
        )
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_%'")
                return {str(k): str(v) for k, v in cur.fetchall()}
        finally:
            conn.close()

    def synced(self, size: int) -> bool:
        try:
            status = self.status()
        except (OSError, pymysql.MySQLError):
            return False
        return (
            status.get("wsrep_cluster_size") == str(size)
            and status.get("wsrep_local_state_comment") == "Synced"
            and status.get("wsrep_ready") == "ON"
            and status.get("wsrep_cluster_status") == "Primary"
        )

    def wait_synced(self, size: int, timeout: float, what: str) -> float:
        """Seconds until the node is Synced in a cluster of ``size``; ServerUnavailable
        (with the node's last state and log) if not within ``timeout``."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise ServerUnavailable(
                    f"{what}: mariadbd of {self.name} exited"
                    f" ({None if self.process is None else self.process.returncode});"
                    f" its log:\n{self.log_tail()}"
                )
            if self.synced(size):
                return time.monotonic() - start
            time.sleep(0.1)
        try:
            state: Any = {
                k: v
                for k, v in self.status().items()
                if k
                in (
                    "wsrep_cluster_size",
                    "wsrep_local_state_comment",
                    "wsrep_ready",
                    "wsrep_cluster_status",
                )
            }
        except (OSError, pymysql.MySQLError) as exc:
            state = f"no answer: {exc}"
        raise ServerUnavailable(
            f"{what}: {self.name} was not Synced in a cluster of {size} within"
            f" {timeout:g}s (state: {state}); its log:\n{self.log_tail()}"
        )

    def terminate(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; by pid, only the process started here."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
        self.process = None
        self.running = False


class GaleraCluster:
    """Three (``size``) Galera nodes on loopback; see the module docstring."""

    def __init__(self, size: int = 3) -> None:
        if not os.path.exists(GALERA_PROVIDER):
            raise ServerUnavailable(
                f"the Galera provider {GALERA_PROVIDER} is missing"
                " (Debian: apt-get install galera-4)"
            )
        _find(("wsrep_sst_rsync",))  # MariaDB's rsync state transfer script
        _find(("rsync",))  # which runs rsync on both sides
        self.cluster_name = f"rawrepo_{uuid.uuid4().hex[:10]}"
        ports: set[int] = set()
        while len(ports) < 4 * size:  # free_port() may hand out a port twice
            ports.add(free_port())
        ordered = sorted(ports)
        self.nodes = [
            GaleraNode(i + 1, self.cluster_name, ordered[4 * i : 4 * i + 4]) for i in range(size)
        ]
        addresses = ",".join(node.group_address for node in self.nodes)
        for node in self.nodes[1:]:
            node.cluster_address = f"gcomm://{addresses}"
        self.nodes[0].new_cluster = True
        self.timings: dict[str, float] = {}

    # -- lifecycle ----------------------------------------------------------------------

    def setup(self) -> None:
        """Bootstrap node 1, join the others one at a time, wait until all are Synced."""
        began = time.monotonic()
        first = self.nodes[0]
        first.create_data()
        for node in self.nodes[1:]:
            # an empty data folder for the joiner: the state transfer fills it
            node.data.mkdir(parents=True)
            if _as_root():
                _chown(node.root, "mysql")
        first.start()
        self.timings["bootstrap"] = first.wait_synced(1, BOOTSTRAP_TIMEOUT, "bootstrap")
        for node in self.nodes[1:]:
            node.start()
            self.timings[f"join node {node.index}"] = node.wait_synced(
                node.index, JOIN_TIMEOUT, f"joining node {node.index}"
            )
        for node in self.nodes:
            node.wait_synced(len(self.nodes), BOOTSTRAP_TIMEOUT, "cluster of 3")
        self.timings["start"] = time.monotonic() - began

    def destroy(self) -> None:
        """Stop every node this cluster started (by pid) and delete its folder."""
        for node in reversed(self.nodes):
            try:
                node.terminate()
            finally:
                node.destroy()

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (1-based): a crash, mid-whatever it was doing."""
        node = self.nodes[index - 1]
        node.stop()

    def wait_view(self, timeout: float = VIEW_TIMEOUT) -> float:
        """Seconds until every running node is Synced in a view of the running nodes."""
        start = time.monotonic()
        alive = [node for node in self.nodes if node.running]
        for node in alive:
            node.wait_synced(len(alive), max(1.0, start + timeout - time.monotonic()), "new view")
        return time.monotonic() - start

    async def await_view(self, timeout: float = VIEW_TIMEOUT) -> float:
        return await asyncio.to_thread(self.wait_view, timeout)

    # -- URLs and databases -------------------------------------------------------------

    def url(
        self,
        database: str,
        order: Sequence[int] = (1, 2, 3),
        options: str = "",
        scheme: str = "mysql",
    ) -> str:
        """A multi-host URL of ``database`` listing the nodes in ``order`` (1-based):
        rawrepo connects to the first that takes a connection."""
        hosts = ",".join(f"127.0.0.1:{self.nodes[i - 1].port}" for i in order)
        return f"{scheme}://root@{hosts}/{database}" + (f"?{options}" if options else "")

    def node_url(self, index: int, database: str, options: str = "", scheme: str = "mysql") -> str:
        """The URL of ``database`` on node ``index`` alone."""
        return self.url(database, (index,), options, scheme)

    def index_of(self, host: str | None) -> int:
        """The node index (1-based) of a ``host:port`` as HealthStatus.host gives it."""
        for node in self.nodes:
            if host == f"127.0.0.1:{node.port}":
                return node.index
        raise AssertionError(f"{host!r} is no node of the cluster")

    async def create_database(self) -> str:
        """A new database with rawrepo's bundled schema (created on node 1, replicated
        to every node by Galera's total-order DDL); returns its name."""
        name = f"galera_{uuid.uuid4().hex[:12]}"
        first = self.nodes[0]
        await load_driver(parse_url(first.admin_url)).create_database(name)
        await asyncio.to_thread(rawrepo.migrate.apply, self.url(name), bundled=True)
        return name
