"""Helpers shared by the migration tests (API and CLI)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rawrepo import migrate
from rawrepo.config import DIALECTS

FIXTURE_MIGRATIONS = Path(__file__).parent / "sql_migrate" / "migrations"


def migrations_with(tmp_path: Path, *extra: str) -> Path:
    """A copy of the bundled migrations plus the named fixture migrations."""
    root = tmp_path / "migrations"
    shutil.copytree(migrate.BUNDLED_MIGRATIONS_DIR, root)
    for name in extra:
        for dialect in DIALECTS:
            for path in (FIXTURE_MIGRATIONS / name / dialect).iterdir():
                shutil.copy(path, root / dialect / path.name)
    return root
