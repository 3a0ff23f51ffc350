"""Helpers shared by the migration tests (API and CLI)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rawrepo import migrate
from rawrepo.config import DIALECTS
from rawrepo.database import Database

FIXTURE_MIGRATIONS = Path(__file__).parent / "sql_migrate" / "migrations"
QUERIES = Path(__file__).parent / "sql_migrate" / "queries"
PROJECT = Path(__file__).parent / "sql_migrate" / "project"
"""A user's own schema: one orders table (no users, no tasks)."""
PROJECT_SQL = Path(__file__).parent / "sql_migrate" / "project_sql"
"""That project's queries."""


async def table_names(url: str) -> set[str]:
    """The tables of the database at ``url``, in lower case."""
    async with Database(url, sql_dir=QUERIES) as db, db.session() as session:
        return {str(row["name"]).lower() for row in await session.fetch_all("schema.table_names")}


def migrations_with(tmp_path: Path, *extra: str) -> Path:
    """A copy of the bundled migrations plus the named fixture migrations."""
    root = tmp_path / "migrations"
    shutil.copytree(migrate.BUNDLED_MIGRATIONS_DIR, root)
    for name in extra:
        for dialect in DIALECTS:
            for path in (FIXTURE_MIGRATIONS / name / dialect).iterdir():
                shutil.copy(path, root / dialect / path.name)
    return root
