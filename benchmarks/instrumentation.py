"""What rawrepo's instrumentation costs: query tags, the slow-query log and
OpenTelemetry spans, each against a baseline with all of them off, in the same
process. Each round runs a short burst of operations of every variant, in an order
rotated by the round, and a variant's ratio in that round is its time per
operation over the baseline's; the table gives the median of those paired ratios
over all rounds, which a shared machine's changing load moves far less than it
moves the absolute numbers.

    python -m benchmarks.instrumentation --backends sqlite,postgresql,mysql,mysql+asyncmy
    python -m benchmarks.instrumentation --quick          # smoke test, a few seconds

Variants (every one a ``Database`` on the same migrated database, pool of 1):

- ``baseline``: ``query_tags=False, tracing=False``, no slow-query log;
- ``tags``: query tags on (the default);
- ``slow_log``: tags and ``slow_ms`` set high enough never to fire (the timing cost);
- ``otel_noop``: tags and tracing with OpenTelemetry's no-op provider: what an app
  with ``opentelemetry-api`` installed but no SDK configured pays;
- ``otel_sdk``: tags and tracing into the SDK (``BatchSpanProcessor`` with an exporter
  that drops the spans): the cost of recording, without the network.

Workloads: ``point read`` (one session, one ``users.get_by_id``) and ``write
transaction`` (one session: BEGIN, one INSERT, COMMIT). The table gives the
baseline's median time per operation and each variant's median ratio to it
(1.05x = 5 % slower).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.runner import BACKENDS, Databases
from rawrepo import Database
from rawrepo.models import UserCreate
from rawrepo.repositories import UserRepository

VARIANTS = ("baseline", "tags", "slow_log", "otel_noop", "otel_sdk")
WORKLOADS = ("point read", "write transaction")
Op = Callable[[int], Awaitable[Any]]


def _sdk_provider() -> Any:
    """An SDK TracerProvider that records every span and drops it at export."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return provider


def _database(url: str, variant: str) -> Database:
    settings: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, "echo": False}
    if variant == "baseline":
        return Database(url, query_tags=False, tracing=False, **settings)
    if variant == "tags":
        return Database(url, query_tags=True, tracing=False, **settings)
    if variant == "slow_log":
        return Database(url, query_tags=True, tracing=False, slow_ms=1e9, **settings)
    from opentelemetry.trace import NoOpTracerProvider

    provider = NoOpTracerProvider() if variant == "otel_noop" else _sdk_provider()
    return Database(url, query_tags=True, tracing=True, tracer_provider=provider, **settings)


def _ops(db: Database, user_id: uuid.UUID) -> dict[str, Op]:
    users = UserRepository()
    prefix = uuid.uuid4().hex[:8]

    async def point_read(n: int) -> Any:
        async with db.session() as session:
            return await users.get(session, user_id)

    async def write(n: int) -> Any:
        async with db.session() as session:
            return await users.create(session, UserCreate(username=f"w{prefix}{n}"))

    return {"point read": point_read, "write transaction": write}


async def _timed(op: Op, ops: int, start_at: int) -> float:
    """Seconds per operation over ``ops`` operations."""
    perf = time.perf_counter
    start = perf()
    for n in range(ops):
        await op(start_at + n)
    return (perf() - start) / ops


async def run_backend(backend: str, rounds: int, ops: int) -> list[dict[str, Any]]:
    databases = Databases(backend)
    dbs: dict[str, Database] = {}
    try:
        url = await databases.create("instrumentation")
        async with Database(url) as setup, setup.session() as session:
            user = await UserRepository().create(session, UserCreate(username="reader"))
        for variant in VARIANTS:
            dbs[variant] = _database(url, variant)
            await dbs[variant].connect()
        calls = {variant: _ops(db, user.id) for variant, db in dbs.items()}
        for variant in VARIANTS:  # warm up: connections, statement caches, attributes
            for op in calls[variant].values():
                await _timed(op, max(ops, 5), 10_000_000)
        seconds: dict[tuple[str, str], list[float]] = {}
        ratios: dict[tuple[str, str], list[float]] = {}
        counter = 0
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for workload in WORKLOADS:
                gc.collect()
                this_round: dict[str, float] = {}
                for variant in order:
                    this_round[variant] = await _timed(calls[variant][workload], ops, counter)
                    counter += ops
                for variant, per_op in this_round.items():
                    seconds.setdefault((workload, variant), []).append(per_op)
                    ratio = per_op / this_round["baseline"]
                    ratios.setdefault((workload, variant), []).append(ratio)
    finally:
        for db in dbs.values():
            await db.disconnect()
        await databases.drop_all()
    results = []
    for workload in WORKLOADS:
        for variant in VARIANTS:
            key = (workload, variant)
            results.append(
                {
                    "backend": backend,
                    "workload": workload,
                    "variant": variant,
                    "us_per_op": round(statistics.median(seconds[key]) * 1e6, 2),
                    "ratio_to_baseline": round(statistics.median(ratios[key]), 4),
                    "rounds_us_per_op": [round(x * 1e6, 2) for x in seconds[key]],
                }
            )
    return results


def _table(results: Sequence[dict[str, Any]]) -> list[str]:
    head = f"{'backend':<14} {'workload':<18} {'baseline':>12}" + "".join(
        f" {v:>10}" for v in VARIANTS[1:]
    )
    lines = [head, "-" * len(head)]
    rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in results:
        rows.setdefault((r["backend"], r["workload"]), {})[r["variant"]] = r
    for (backend, workload), cells in rows.items():
        line = f"{backend:<14} {workload:<18} {cells['baseline']['us_per_op']:>9.1f} us"
        line += "".join(f" {cells[v]['ratio_to_baseline']:>9.3f}x" for v in VARIANTS[1:])
        lines.append(line)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instrumentation")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--rounds", type=int, default=80, help="rounds (default 80)")
    parser.add_argument("--ops", type=int, default=20, help="operations per burst (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every number here")
    args = parser.parse_args(argv)
    rounds, ops = (3, 5) if args.quick else (args.rounds, args.ops)
    results: list[dict[str, Any]] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"-- {backend}", file=sys.stderr, flush=True)
        results += asyncio.run(run_backend(backend, rounds, ops))
    print("\n".join(_table(results)))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "python": sys.version.split()[0],
                    "rounds": rounds,
                    "ops_per_burst": ops,
                    "results": results,
                },
                indent=2,
            )
        )
    return 0 if all(r["us_per_op"] > 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
