"""One "application process" for the pgbouncer tests: concurrent sessions running
distinct statements of the same shape through a pooler, counting wrong results.

    python -m tests.pgbouncer_workload URL ROUNDS  ->  {"wrong": 0, "right": 200, "errors": [...]}
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

from rawrepo import Database, DatabaseError

SQL_DIR = Path(__file__).parent / "sql_pgbouncer"
WORKERS = 5


async def run(url: str, rounds: int) -> dict[str, object]:
    wrong = right = 0
    errors: list[str] = []
    async with Database(url, sql_dir=SQL_DIR, pool_size=WORKERS) as db:

        async def worker() -> None:
            nonlocal wrong, right
            async with db.create_session() as session:  # reads: each its own transaction
                for _ in range(rounds):
                    k, n = random.randint(1, 8), random.randint(0, 10_000)
                    try:
                        value = await session.fetch_value(f"bouncer.plus_{k}", n=n)
                    except DatabaseError as exc:
                        errors.append(str(exc))
                        continue
                    if value == n + k:
                        right += 1
                    else:
                        wrong += 1

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return {"wrong": wrong, "right": right, "errors": errors}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(sys.argv[1], int(sys.argv[2])))))
