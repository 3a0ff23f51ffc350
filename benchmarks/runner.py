"""The harness: databases per workload, warm-up, timed runs interleaved across stacks.

For each backend and workload: seed (untimed), warm every stack up, then
``runs`` rounds; in round ``r`` the stacks run in the suite order rotated by
``r``, so no stack always runs first or last. The garbage collector is
emptied before every timed run, so no stack pays for another's garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import statistics
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.stacks import make_stack
from benchmarks.stacks.base import Stack
from benchmarks.stacks.raw import RawStack, raw_stack
from benchmarks.workloads import Op, Sizes, Workload, make_workloads
from rawrepo import migrate
from rawrepo.config import DIALECTS, Dialect, parse_url
from rawrepo.drivers.base import load_driver

__all__ = ["BACKENDS", "Cell", "backend_dialect", "run_backend", "server_url"]

BACKENDS = ("sqlite", "postgresql", "mysql", "mysql+asyncmy")
"""A backend is a dialect, or ``dialect+driver`` for a second driver of it: every
stack on ``mysql+asyncmy`` talks to the ``mysql`` server through asyncmy."""

_DEFAULT_SERVERS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql://root@127.0.0.1:3306/mysql",
}


def backend_dialect(backend: str) -> Dialect:
    """``mysql`` for ``mysql+asyncmy``: the SQL, schema and seed data the backend uses."""
    dialect = backend.partition("+")[0]
    if backend not in BACKENDS or dialect not in DIALECTS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return dialect


def server_url(backend: str) -> str | None:
    """``RAWREPO_BENCH_<DIALECT>_URL``, else ``RAWREPO_TEST_<DIALECT>_URL``, else localhost;
    for ``dialect+driver`` the same server with the scheme ``dialect+driver``."""
    dialect = backend_dialect(backend)
    if dialect == "sqlite":
        return None
    upper = dialect.upper()
    url = (
        os.environ.get(f"RAWREPO_BENCH_{upper}_URL")
        or os.environ.get(f"RAWREPO_TEST_{upper}_URL")
        or _DEFAULT_SERVERS[dialect]
    )
    if backend != dialect:
        url = f"{backend}://{url.partition('://')[2]}"
    return url


@dataclass
class Cell:
    """One (backend, workload, stack): its timed runs and their median."""

    backend: str
    workload: str
    title: str
    stack: str
    unit: str
    runs: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    max_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ops_per_s(self) -> float | None:
        return statistics.median(self.runs) if self.runs and self.error is None else None

    def as_dict(self, raw: Cell | None) -> dict[str, Any]:
        value = self.ops_per_s
        base = raw.ops_per_s if raw is not None else None
        out: dict[str, Any] = {
            "backend": self.backend,
            "workload": self.workload,
            "title": self.title,
            "stack": self.stack,
            "unit": self.unit,
            "ops_per_s": value,
            "ratio_to_raw": (value / base) if value and base else None,
            "runs": self.runs,
        }
        if self.p50_ms:
            out["p50_ms"] = statistics.median(self.p50_ms)
            out["p99_ms"] = statistics.median(self.p99_ms)
            out["max_ms"] = statistics.median(self.max_ms)
            out["runs_p50_ms"] = self.p50_ms
            out["runs_p99_ms"] = self.p99_ms
            out["runs_max_ms"] = self.max_ms
        if self.error:
            out["error"] = self.error
        return out


# --------------------------------------------------------------------------- timing


async def _loop(op: Op, duration: float, min_ops: int) -> float:
    """Operations per second over one run of at least ``duration`` s and ``min_ops`` ops."""
    perf = time.perf_counter
    n = 0
    start = perf()
    deadline = start + duration
    while True:
        await op(n)
        n += 1
        if n >= min_ops and perf() >= deadline:
            break
    return n / (perf() - start)


async def _bulk(op: Op, rows: int) -> float:
    """Rows per second of one operation that writes ``rows`` rows."""
    perf = time.perf_counter
    start = perf()
    await op(0)
    return rows / (perf() - start)


async def _concurrent(op: Op, workers: int, duration: float) -> tuple[float, float, float, float]:
    """Throughput, p50, p99 and max latency (ms) of ``workers`` coroutines looping for
    ``duration``. The max shows starvation: a pool that lets a releasing caller take its
    connection straight back serves a few callers fast and leaves the rest waiting,
    which the percentiles of all operations hide (the starved ones are few)."""
    perf = time.perf_counter
    stop = perf() + duration

    async def worker(k: int) -> list[float]:
        lat: list[float] = []
        append = lat.append
        i = k * 1_000_003
        while True:
            t0 = perf()
            await op(i)
            t1 = perf()
            append(t1 - t0)
            i += 1
            if t1 >= stop:
                return lat

    start = perf()
    lists = await asyncio.gather(*(worker(k) for k in range(workers)))
    elapsed = perf() - start
    latencies = sorted(x for lat in lists for x in lat)
    count = len(latencies)
    p50 = latencies[int(0.50 * (count - 1))]
    p99 = latencies[int(0.99 * (count - 1))]
    return count / elapsed, p50 * 1000, p99 * 1000, latencies[-1] * 1000


async def _warm(workload: Workload, stack: Stack, sizes: Sizes, admin: RawStack) -> None:
    """Untimed operations; the first result is checked, so a stack cannot do less work."""
    op = workload.op(stack)
    problem = workload.check(await op(0))
    if problem:
        raise RuntimeError(f"wrong result: {problem}")
    if workload.mode == "bulk":
        await workload.after_run(admin)
        return
    if workload.mode == "concurrent":
        await _concurrent(op, sizes.concurrency, sizes.warmup)
        return
    await _loop(op, sizes.warmup, 1)


async def _measure(
    cell: Cell, workload: Workload, stack: Stack, sizes: Sizes, admin: RawStack
) -> None:
    op = workload.op(stack)
    gc.collect()
    if workload.mode == "loop":
        cell.runs.append(await _loop(op, sizes.duration, sizes.min_ops))
    elif workload.mode == "bulk":
        cell.runs.append(await _bulk(op, workload.rows_per_op()))
        await workload.after_run(admin)
    else:
        ops, p50, p99, worst = await _concurrent(op, sizes.concurrency, sizes.concurrent_duration)
        cell.runs.append(ops)
        cell.p50_ms.append(p50)
        cell.p99_ms.append(p99)
        cell.max_ms.append(worst)


# --------------------------------------------------------------------------- databases


class Databases:
    """Uniquely named databases on one server (SQLite: files in a temp folder), all
    migrated with rawrepo's migrations and dropped at the end."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.server = server_url(backend)
        self.tmp = Path(tempfile.mkdtemp(prefix="rawrepo-bench-")) if self.server is None else None
        self.created: list[str] = []

    async def create(self, label: str) -> str:
        safe = "".join(c if c.isalnum() else "_" for c in label.lower())
        name = f"rawrepo_bench_{os.getpid()}_{safe}_{uuid.uuid4().hex[:6]}"
        if self.tmp is not None:
            path = str(self.tmp / f"{name}.db")
            self.created.append(path)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            assert self.server is not None
            server = parse_url(self.server, variable=f"{self.backend} server URL")
            await load_driver(server).create_database(name)
            self.created.append(name)
            url = server.with_database(name).render(mask=False)
        await asyncio.to_thread(migrate.apply, url, bundled=True)
        return url

    async def drop_all(self) -> None:
        if self.tmp is not None:
            for path in self.created:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(OSError):
                        os.unlink(path + suffix)
            with contextlib.suppress(OSError):
                self.tmp.rmdir()
        elif self.server is not None:
            driver = load_driver(parse_url(self.server))
            for name in self.created:
                with contextlib.suppress(Exception):
                    await driver.drop_database(name)
        self.created.clear()


# --------------------------------------------------------------------------- one backend


async def run_backend(
    backend: str,
    workload_keys: Sequence[str],
    stack_names: Sequence[str],
    sizes: Sizes,
    progress: Callable[[str], None],
) -> tuple[list[Cell], str | None]:
    """Every chosen workload on one backend; returns the cells and the server version."""
    dialect = backend_dialect(backend)
    workloads = make_workloads(workload_keys, sizes, dialect)
    cells: list[Cell] = []
    version: str | None = None
    databases = Databases(backend)
    try:
        groups: dict[str, list[Workload]] = {}
        for w in workloads:
            groups.setdefault(w.database_key, []).append(w)
        for label, group in groups.items():
            try:
                url = await databases.create(label)
            except Exception as exc:
                message = f"cannot prepare the database: {type(exc).__name__}: {exc}"
                progress(f"{backend}: {message}")
                for w in group:
                    for name in stack_names:
                        cells.append(Cell(backend, w.key, w.title, name, w.unit, error=message))
                continue
            found = await _run_group(
                backend, dialect, url, group, stack_names, sizes, cells, progress
            )
            version = version or found
    finally:
        await databases.drop_all()
    return cells, version


async def _run_group(
    backend: str,
    dialect: Dialect,
    url: str,
    group: list[Workload],
    stack_names: Sequence[str],
    sizes: Sizes,
    cells: list[Cell],
    progress: Callable[[str], None],
) -> str | None:
    # The URL's scheme names the driver: every stack (and the seeding) uses the backend's.
    admin = raw_stack(url, dialect, 1)
    await admin.open()
    version = await admin.server_version()
    stacks: dict[str, Stack] = {}
    broken: dict[str, str] = {}
    shared: dict[str, Any] = {}
    try:
        for name in stack_names:
            try:
                stack = make_stack(name, url, dialect, sizes.pool_size)
                await stack.open()
                stacks[name] = stack
            except Exception as exc:
                broken[name] = f"cannot open: {type(exc).__name__}: {exc}"
        for workload in group:
            started = time.perf_counter()
            row = {
                name: Cell(backend, workload.key, workload.title, name, workload.unit)
                for name in stack_names
            }
            cells.extend(row.values())
            for name, message in broken.items():
                row[name].error = message
            try:
                await workload.seed(admin, shared)
            except Exception as exc:
                for cell in row.values():
                    cell.error = f"seeding failed: {_describe(exc)}"
                progress(f"{backend:<13} {workload.key:<10} seeding failed: {_describe(exc)}")
                continue
            live = [n for n in stack_names if n in stacks]
            for name in live:
                try:
                    await _warm(workload, stacks[name], sizes, admin)
                except Exception as exc:
                    row[name].error = _describe(exc)
            for r in range(sizes.runs):
                order = live[r % len(live) :] + live[: r % len(live)] if live else []
                for name in order:
                    if row[name].error:
                        continue
                    try:
                        await _measure(row[name], workload, stacks[name], sizes, admin)
                    except Exception as exc:
                        row[name].error = _describe(exc)
            progress(
                f"{backend:<13} {workload.key:<10} {time.perf_counter() - started:6.1f}s  "
                + "  ".join(_short(c) for c in row.values())
            )
    finally:
        for stack in stacks.values():
            with contextlib.suppress(Exception):
                await stack.close()
        await admin.close()
    return version


def _describe(exc: BaseException) -> str:
    tail = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(tail[0].filename).name}:{tail[0].lineno}" if tail else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _short(cell: Cell) -> str:
    value = cell.ops_per_s
    return f"{cell.stack}=" + ("ERROR" if value is None else f"{value:,.0f}")
