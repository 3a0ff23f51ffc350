"""The printed table and the JSON document."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks.runner import Cell

__all__ = ["json_document", "table", "versions"]

_PACKAGES = (
    "rawrepo",
    "asyncpg",
    "aiomysql",
    "asyncmy",
    "PyMySQL",
    "aiosqlite",
    "pydantic",
    "pydantic-core",
    "SQLAlchemy",
    "sqlmodel",
    "greenlet",
)


def versions(servers: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "sqlite_library": sqlite3.sqlite_version,
    }
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["servers"] = servers
    return out


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python_implementation": platform.python_implementation(),
    }


def _raw_of(cells: Sequence[Cell]) -> dict[tuple[str, str], Cell]:
    return {(c.backend, c.workload): c for c in cells if c.stack == "raw"}


def json_document(
    cells: Sequence[Cell], servers: dict[str, str | None], settings: dict[str, Any]
) -> dict[str, Any]:
    raws = _raw_of(cells)
    return {
        "meta": {"versions": versions(servers), "machine": machine(), "settings": settings},
        "results": [c.as_dict(raws.get((c.backend, c.workload))) for c in cells],
    }


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(cells: Sequence[Cell], stacks: Sequence[str], servers: dict[str, str | None]) -> str:
    """One block per backend: workloads down, stacks across, 'median (ratio to raw)'."""
    raws = _raw_of(cells)
    lines: list[str] = []
    by_backend: dict[str, list[Cell]] = {}
    for c in cells:
        by_backend.setdefault(c.backend, []).append(c)
    width = 19
    for backend, group in by_backend.items():
        lines.append("")
        lines.append(f"{backend} ({servers.get(backend) or 'server unavailable'})")
        header = f"{'workload':<46}{'unit':<9}" + "".join(f"{s:>{width}}" for s in stacks)
        lines.append(header)
        lines.append("-" * len(header))
        rows: dict[str, dict[str, Cell]] = {}
        for c in group:
            rows.setdefault(c.workload, {})[c.stack] = c
        for key, row in rows.items():
            first = next(iter(row.values()))
            label = f"{key} {first.title}"[:45]
            text = f"{label:<46}{first.unit:<9}"
            raw = raws.get((backend, key))
            for s in stacks:
                cell = row.get(s)
                value = cell.ops_per_s if cell else None
                if cell is None:
                    text += f"{'-':>{width}}"
                elif value is None:
                    text += f"{'ERROR':>{width}}"
                elif s == "raw" or raw is None or not raw.ops_per_s:
                    text += f"{_fmt(value):>{width}}"
                else:
                    text += f"{_fmt(value) + f' ({value / raw.ops_per_s:.2f})':>{width}}"
            lines.append(text)
            if any(c.p50_ms for c in row.values()):
                for label, attr in (
                    ("p50 latency", "p50_ms"),
                    ("p99 latency", "p99_ms"),
                    ("max latency", "max_ms"),
                ):
                    text = f"{'  ' + label:<46}{'ms':<9}"
                    for s in stacks:
                        found = row.get(s)
                        values = getattr(found, attr) if found and found.error is None else []
                        median = statistics.median(values) if values else None
                        text += f"{(_fmt(median) if median is not None else '-'):>{width}}"
                    lines.append(text)
    errors = [c for c in cells if c.error]
    if errors:
        lines.append("")
        lines.append("errors (the first per backend and stack; all are in the JSON):")
        seen: set[tuple[str, str]] = set()
        for c in errors:
            if (c.backend, c.stack) in seen:
                continue
            seen.add((c.backend, c.stack))
            more = sum(1 for e in errors if (e.backend, e.stack) == (c.backend, c.stack)) - 1
            text = (c.error or "")[:300]
            lines.append(f"  {c.backend} {c.workload} {c.stack}: {text}")
            if more:
                lines.append(f"    (and {more} more cell(s) of {c.stack} on {c.backend})")
    lines.append("")
    lines.append("Medians of the timed runs; (x) = throughput relative to raw on the same backend.")
    return "\n".join(lines)
