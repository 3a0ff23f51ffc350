"""``python -m benchmarks``: run the suite, print the table, write the JSON.

Exit status 0 only if every cell produced a positive number (so ``--quick``
doubles as a smoke test of all stacks on all backends); 1 otherwise; 2 for
bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.runner import BACKENDS, Cell, run_backend, server_url
from benchmarks.stacks import STACKS
from benchmarks.workloads import FULL, QUICK, WORKLOADS, Sizes

__all__ = ["main"]


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    lowered = {a.lower(): a for a in allowed}
    out = []
    for name in chosen:
        if name.lower() not in lowered:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {name!r}; choose from {', '.join(allowed)}"
            )
        out.append(lowered[name.lower()])
    if not out:
        raise argparse.ArgumentTypeError(f"name at least one {what}")
    return out


def parser() -> argparse.ArgumentParser:
    keys = [w.key for w in WORKLOADS]
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmark rawrepo against the raw drivers (raw, raw_validated) and the"
            " SQLAlchemy/SQLModel async ORM (sqlmodel) on SQLite, PostgreSQL and MySQL;"
            " mysql+asyncmy is the MySQL server again with every stack on asyncmy."
            " Server URLs: RAWREPO_BENCH_POSTGRESQL_URL / RAWREPO_BENCH_MYSQL_URL, else"
            " RAWREPO_TEST_*_URL, else localhost defaults. The suite creates its own"
            " databases and drops them at the end."
        ),
    )
    p.add_argument(
        "--backends",
        type=lambda t: _names(t, BACKENDS, "backend"),
        default=list(BACKENDS),
        help=f"comma-separated: {','.join(BACKENDS)} (default: all four)",
    )
    p.add_argument(
        "--workloads",
        type=lambda t: _names(t, keys, "workload"),
        default=keys,
        help=f"comma-separated workload keys (default: all: {','.join(keys)})",
    )
    p.add_argument(
        "--stacks",
        type=lambda t: _names(t, STACKS, "stack"),
        default=list(STACKS),
        help=f"comma-separated (default: {','.join(STACKS)}); ratios need raw",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results here as JSON")
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny data, short runs, one round: a smoke test of every cell in well under 60 s",
    )
    p.add_argument("--runs", type=int, metavar="N", help="timed runs per cell (default 5; quick 1)")
    p.add_argument("--duration", type=float, metavar="S", help="seconds per timed run of a loop")
    p.add_argument("--search-rows", type=int, metavar="N", help="W5 table size (default 100000)")
    p.add_argument("--bulk-rows", type=int, metavar="N", help="W4 rows per insert (default 10000)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sizes: Sizes = QUICK if args.quick else FULL
    changes = {}
    for option, name in (
        ("runs", "runs"),
        ("duration", "duration"),
        ("search_rows", "search_rows"),
        ("bulk_rows", "bulk_rows"),
    ):
        value = getattr(args, option)
        if value is not None:
            if value <= 0:
                print(f"--{option.replace('_', '-')} must be positive", file=sys.stderr)
                return 2
            changes[name] = value
    sizes = dataclasses.replace(sizes, **changes)
    return asyncio.run(_main(args, sizes))


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _main(args: argparse.Namespace, sizes: Sizes) -> int:
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    cells: list[Cell] = []
    servers: dict[str, str | None] = {}
    for backend in args.backends:
        found, version = await run_backend(backend, args.workloads, args.stacks, sizes, _progress)
        cells.extend(found)
        servers[backend] = version
    elapsed = time.perf_counter() - started
    from benchmarks.report import json_document, table

    print(table(cells, args.stacks, servers))
    print(f"total {elapsed:.1f}s", file=sys.stderr)
    if args.json:
        settings = {
            "mode": "quick" if args.quick else "full",
            "backends": args.backends,
            "workloads": args.workloads,
            "stacks": args.stacks,
            "sizes": sizes.as_dict(),
            "server_urls": {b: _masked(server_url(b)) for b in args.backends},
            "started_at": started_at,
            "elapsed_s": round(elapsed, 1),
            # Other work on the machine skews timings; the 1-minute load average shows it.
            "loadavg_1m_before": round(load_before[0], 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }
        doc = json_document(cells, servers, settings)
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if not cells:
        print("nothing ran: no chosen workload applies to the chosen backends", file=sys.stderr)
    ok = bool(cells) and all((c.ops_per_s or 0) > 0 for c in cells)
    return 0 if ok else 1


def _masked(url: str | None) -> str | None:
    if url is None:
        return None
    from rawrepo.config import mask_url

    return mask_url(url)
