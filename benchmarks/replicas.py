"""Read replicas: read throughput with 0, 1 and 2 replicas, and what read-your-writes
costs, on throwaway servers this benchmark starts (a primary and two streaming
replicas per backend, from ``tests/replication/servers.py``).

    python -m benchmarks.replicas --backends postgresql,mysql --json replicas.json
    python -m benchmarks.replicas --quick        # a smoke run, ~30 s

All servers share this machine's cores, so a replica adds no hardware here: the
throughput cells are informational (they show the routing's own cost, not the
scaling a real replica on its own machine gives). The read-your-writes cells are
ratios within one run:

- ``commit + token``: a one-row write session with replicas configured (one more
  round trip after COMMIT for the position) against the same session without
  replicas (nothing fetched);
- ``read with token``: a read-only session with ``after=`` a token the replica
  already has (one more round trip to check it) against one with ``after=None``;
- ``write then read``: a write followed at once by a read-only session that must
  see it (waiting for the replica when it is behind) against the same read without
  the token (which may read stale data).

Medians of ``--runs`` interleaved runs (the configurations take turns).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rawrepo import Database
from tests.replication.servers import SQL_DIR, TOPOLOGIES, Topology

Op = Callable[[], Awaitable[None]]
ROWS = 1000


async def timed(op: Op, seconds: float, workers: int) -> float:
    """Operations per second of ``op`` run by ``workers`` concurrent loops."""
    gc.collect()
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(workers)))
    return done / (time.perf_counter() - started)


async def run_backend(backend: str, runs: int, seconds: float, workers: int) -> dict[str, Any]:
    topology: Topology = TOPOLOGIES[backend]()
    await asyncio.to_thread(topology.setup)
    try:
        name = await topology.create_database()
        primary, replicas = topology.primary_url(name), topology.replica_urls(name)
        async with Database(primary, sql_dir=SQL_DIR) as seed, seed.session() as session:
            await session.execute_many(
                "repl.insert_note", [{"id": i, "body": f"note {i}"} for i in range(ROWS)]
            )
        await topology.wait_for_replicas(name)
        size = {"pool_size": workers, "max_overflow": 0}
        dbs = {
            "primary only": Database(primary, sql_dir=SQL_DIR, **size),
            "primary + 1 replica": Database(
                primary, sql_dir=SQL_DIR, replica_urls=replicas[:1], **size
            ),
            "primary + 2 replicas": Database(
                primary, sql_dir=SQL_DIR, replica_urls=replicas, **size
            ),
        }
        for db in dbs.values():
            await db.connect()
        try:
            return await _measure(backend, dbs, runs, seconds, workers)
        finally:
            for db in dbs.values():
                await db.disconnect()
    finally:
        topology.destroy()


async def _measure(
    backend: str, dbs: dict[str, Database], runs: int, seconds: float, workers: int
) -> dict[str, Any]:
    counter = iter(range(ROWS, 10**9))
    plain, one, two = dbs["primary only"], dbs["primary + 1 replica"], dbs["primary + 2 replicas"]

    def point_read(db: Database, **kwargs: Any) -> Op:
        async def op() -> None:
            async with db.create_session(readonly=True, **kwargs) as session:
                await session.fetch_value("repl.get_body", id=17)

        return op

    def write(db: Database) -> Op:
        async def op() -> None:
            async with db.create_session() as session:
                await session.execute("repl.update_note", id=next(counter) % ROWS, body="x")

        return op

    def write_then_read(db: Database, **kwargs: Any) -> Op:
        async def op() -> None:
            i = next(counter) % ROWS
            async with db.create_session() as session:
                await session.execute("repl.update_note", id=i, body=f"v{i}")
            async with db.create_session(readonly=True, **kwargs) as session:
                await session.fetch_value("repl.get_body", id=i)

        return op

    # the token of a write every replica has: the check passes at once
    async with two.create_session() as session:
        await session.execute("repl.update_note", id=1, body="token")
    token = session.write_token
    assert token is not None
    await asyncio.sleep(0.5)

    cells: dict[str, tuple[Op, int]] = {
        # read throughput, concurrent read-only sessions
        "reads: primary only": (point_read(plain), workers),
        "reads: primary + 1 replica": (point_read(one, after=None), workers),
        "reads: primary + 2 replicas": (point_read(two, after=None), workers),
        # read-your-writes, one session at a time (latency-bound)
        "commit, no replicas (no token)": (write(plain), 1),
        "commit + token (2 replicas)": (write(two), 1),
        "read, after=None": (point_read(two, after=None), 1),
        "read with token (replica has it)": (point_read(two, after=token), 1),
        "write then read, after=None": (write_then_read(two, after=None), 1),
        "write then read your write": (write_then_read(two), 1),
    }
    for op, _ in cells.values():  # warm up every pool and statement cache
        await timed(op, min(0.2, seconds), 1)
    samples: dict[str, list[float]] = {key: [] for key in cells}
    keys = list(cells)
    for r in range(runs):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            op, n = cells[key]
            samples[key].append(await timed(op, seconds, n))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    ratios = {
        "reads: primary + 1 replica": medians["reads: primary + 1 replica"]
        / medians["reads: primary only"],
        "reads: primary + 2 replicas": medians["reads: primary + 2 replicas"]
        / medians["reads: primary only"],
        "commit + token (2 replicas)": medians["commit + token (2 replicas)"]
        / medians["commit, no replicas (no token)"],
        "read with token (replica has it)": medians["read with token (replica has it)"]
        / medians["read, after=None"],
        "write then read your write": medians["write then read your write"]
        / medians["write then read, after=None"],
    }
    replicas = two.replicas
    assert replicas is not None
    return {
        "backend": backend,
        "ops_per_s": medians,
        "ratio": ratios,
        "runs": samples,
        "settings": {"runs": runs, "seconds": seconds, "workers": workers},
        "reads_on_primary_of_2_replica_db": replicas.reads_on_primary,
    }


def table(result: dict[str, Any]) -> str:
    ratio_to = {
        "reads: primary + 1 replica": "primary only",
        "reads: primary + 2 replicas": "primary only",
        "commit + token (2 replicas)": "no token",
        "read with token (replica has it)": "after=None",
        "write then read your write": "after=None",
    }
    lines = [f"{result['backend']}", f"{'cell':<40} {'ops/s':>10}  ratio"]
    lines.append("-" * 72)
    for key, value in result["ops_per_s"].items():
        ratio = result["ratio"].get(key)
        extra = f"  {ratio:.2f} (to {ratio_to[key]})" if ratio is not None else ""
        lines.append(f"{key:<40} {value:>10,.0f}{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--backends", default="postgresql,mysql")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per timed run")
    parser.add_argument("--workers", type=int, default=20, help="concurrent read sessions")
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration = 1, 0.2
    results = []
    for backend in args.backends.split(","):
        result = asyncio.run(run_backend(backend.strip(), args.runs, args.duration, args.workers))
        print(table(result), flush=True)
        print(flush=True)
        results.append(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    ok = all(v > 0 for r in results for v in r["ops_per_s"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
