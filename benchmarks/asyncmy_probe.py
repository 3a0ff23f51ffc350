"""Is asyncmy much faster than aiomysql? The same two operations, raw drivers,
interleaved rounds, on one MariaDB database (a probe for the optional-driver
decision; needs ``pip install asyncmy``).

    python -m benchmarks.asyncmy_probe
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import aiomysql
import asyncmy

from benchmarks.runner import Databases
from rawrepo.config import parse_url

ROUNDS, SECONDS = 5, 0.5


async def _rate(op: Any) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        await op()
        n += 1
    return n / (time.perf_counter() - start)


async def main() -> None:
    databases = Databases("mysql")
    try:
        url = parse_url(await databases.create("asyncmy"))
        kw: dict[str, Any] = {
            "host": url.host, "port": url.port, "user": url.username or "root",
            "password": url.password or "", "db": url.database, "autocommit": True,
        }  # fmt: skip
        a = await aiomysql.connect(**kw)
        b = await asyncmy.connect(**kw)
        uid = str(uuid.uuid4())
        async with a.cursor() as cur:
            await cur.execute(
                "INSERT INTO users VALUES (%s, 'probe', NULL, NOW(6), NOW(6))", (uid,)
            )
            await cur.executemany(
                "INSERT INTO tasks (id, user_id, title, status, created_at, updated_at)"
                " VALUES (%s, %s, %s, 'pending', NOW(6), NOW(6))",
                [(str(uuid.uuid4()), uid, f"task {i}") for i in range(100)],
            )
        one = "SELECT id, username, email, created_at, updated_at FROM users WHERE id = %s"
        many = (
            "SELECT id, user_id, title, description, status, created_at, updated_at,"
            " completed_at FROM tasks WHERE user_id = %s ORDER BY created_at, id LIMIT 100"
        )

        def op(conn: Any, sql: str) -> Any:
            async def run() -> None:
                async with conn.cursor() as cur:
                    await cur.execute(sql, (uid,))
                    await cur.fetchall()

            return run

        rates: dict[str, list[float]] = {}
        for _ in range(ROUNDS):
            for name, conn in (("aiomysql", a), ("asyncmy", b)):
                for label, sql in (("get user", one), ("100 tasks", many)):
                    rates.setdefault(f"{label:<10} {name}", []).append(await _rate(op(conn, sql)))
        for key, values in rates.items():
            print(f"{key:<20} {statistics.median(values):>9,.0f} ops/s")
        a.close()
        b.close()
    finally:
        await databases.drop_all()


if __name__ == "__main__":
    asyncio.run(main())
