"""The benchmarked stacks, by name. Each is imported only when used."""

from __future__ import annotations

from benchmarks.stacks.base import Stack
from rawrepo.config import Dialect

__all__ = ["STACKS", "Stack", "make_stack"]

STACKS = ("raw", "raw_validated", "rawrepo", "sqlmodel")


def make_stack(name: str, url: str, dialect: Dialect, pool_size: int) -> Stack:
    """A new, unopened stack ``name`` on the database at ``url``."""
    if name == "raw":
        from benchmarks.stacks.raw import raw_stack

        return raw_stack(url, dialect, pool_size)
    if name == "raw_validated":
        from benchmarks.stacks.raw import RawValidatedStack

        return RawValidatedStack(url, dialect, pool_size)
    if name == "rawrepo":
        from benchmarks.stacks.rawrepo_stack import RawrepoStack

        return RawrepoStack(url, dialect, pool_size)
    if name == "sqlmodel":
        from benchmarks.stacks.sqlmodel_stack import SQLModelStack

        return SQLModelStack(url, dialect, pool_size)
    raise ValueError(f"unknown stack {name!r}; choose from {', '.join(STACKS)}")
