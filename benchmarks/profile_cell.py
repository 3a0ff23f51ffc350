"""Run one cell in a loop for a profiler: ``py-spy record -o out.svg -- python -m
benchmarks.profile_cell --backend sqlite --workload W2 --stack rawrepo --seconds 15``.

Seeds a fresh database exactly as the suite does, warms the stack up, then runs
the workload's operation back to back for ``--seconds`` (loop workloads; W4
repeats its bulk insert, W8 runs its concurrent workers) and prints ops/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.runner import BACKENDS, Databases, _concurrent, _loop, backend_dialect
from benchmarks.stacks import STACKS, make_stack
from benchmarks.stacks.raw import raw_stack
from benchmarks.workloads import FULL, WORKLOADS, make_workloads


async def _run(backend: str, key: str, stack_name: str, seconds: float) -> None:
    sizes = FULL
    databases = Databases(backend)
    dialect = backend_dialect(backend)
    try:
        (workload,) = make_workloads([key], sizes, dialect)
        url = await databases.create(workload.database_key)
        admin = raw_stack(url, dialect, 1)
        await admin.open()
        stack = make_stack(stack_name, url, dialect, sizes.pool_size)
        await stack.open()
        try:
            await workload.seed(admin, {})
            op = workload.op(stack)
            problem = workload.check(await op(0))
            if problem:
                raise SystemExit(f"wrong result: {problem}")
            await _loop(op, 1.0, 1)
            if workload.mode == "concurrent":
                ops, p50, p99, worst = await _concurrent(op, sizes.concurrency, seconds)
                print(f"{ops:,.0f} ops/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {worst:.2f} ms")
            elif workload.mode == "bulk":
                start, n = time.perf_counter(), 0
                while time.perf_counter() - start < seconds:
                    await op(n)
                    await workload.after_run(admin)
                    n += 1
                print(f"{n * workload.rows_per_op() / (time.perf_counter() - start):,.0f} rows/s")
            else:
                print(f"{await _loop(op, seconds, 1):,.0f} ops/s")
        finally:
            await stack.close()
            await admin.close()
    finally:
        await databases.drop_all()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_cell", description=__doc__)
    p.add_argument("--backend", choices=BACKENDS, required=True)
    p.add_argument("--workload", choices=[w.key for w in WORKLOADS], required=True)
    p.add_argument("--stack", choices=STACKS, required=True)
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args()
    asyncio.run(_run(args.backend, args.workload, args.stack, args.seconds))


if __name__ == "__main__":
    main()
