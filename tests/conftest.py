"""Shared fixtures: the real-database fixtures come from rawrepo's own pytest plugin."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from rawrepo import Database

if TYPE_CHECKING:  # imported by pytest as a plugin below; importing it here first
    from rawrepo.testing import DatabaseFactory  # would stop pytest rewriting its asserts

pytest_plugins = ["rawrepo.testing", "tests.domain_fixtures"]

CORE_SQL_DIR = Path(__file__).parent / "sql_core"
OBSERVE_SQL_DIR = Path(__file__).parent / "sql_observe"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def items_url(rawrepo_databases: DatabaseFactory) -> str:
    """A fresh database (per test module and backend) with the core_items test table."""
    url = await rawrepo_databases.create()
    async with Database(url, sql_dir=CORE_SQL_DIR) as db, db.session() as session:
        await session.execute("items.create_parents")
        await session.execute("items.create_items")
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def observe_url(rawrepo_databases: DatabaseFactory) -> str:
    """A fresh database (per test module and backend) with the obs_items table of the
    observability tests (tests/sql_observe)."""
    url = await rawrepo_databases.create("obs")
    async with Database(url, sql_dir=OBSERVE_SQL_DIR) as db, db.session() as session:
        await session.execute("obs.create_items")
    return url


# Tests on servers they start themselves (the fault and replication suites) would only
# run again unchanged on the postgresql+pgbouncer target, whose pgbouncer stands in front
# of the shared test server, not theirs: they run on the direct targets alone. So do the
# tests marked ``server_connections``: they kill or inspect the server connection behind
# a client connection, which a pooler in transaction mode hands to whichever client needs
# one next (the client's own connection to the pooler lives on).
_OWN_SERVERS = {"fault_server", "fault_db", "topology"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "server_connections: the test kills or inspects the server connection behind a"
        " client connection (not run through a pooler)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from rawrepo.testing import PGBOUNCER_TARGET

    keep: list[pytest.Item] = []
    repeats: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pooler = (
            callspec is not None and callspec.params.get("rawrepo_target") == PGBOUNCER_TARGET
        )
        fixtures = set(getattr(item, "fixturenames", ()))
        direct = _OWN_SERVERS & fixtures or item.get_closest_marker("server_connections")
        (repeats if on_pooler and direct else keep).append(item)
    if repeats:
        config.hook.pytest_deselected(items=repeats)
        items[:] = keep
