"""OpenTelemetry tracing (rawrepo/instrumentation.py): each statement a CLIENT span
following the database semantic conventions, each session and transaction a parent
span, exported here through the SDK's InMemorySpanExporter; nothing of OpenTelemetry
imported, and no cost, without the package."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from rawrepo import ConfigurationError, Database, UniqueViolation
from rawrepo.instrumentation import SESSION_SPAN, TRANSACTION_SPAN

SQL_DIR = Path(__file__).parent / "sql_observe"
SECRET = "s3cr3t-value-never-traced"


class Traced:
    """A Database whose spans go to an in-memory exporter."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.db = Database(url, sql_dir=SQL_DIR, tracer_provider=self.provider, **settings)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]


@pytest_asyncio.fixture(loop_scope="session")
async def traced(observe_url: str) -> AsyncIterator[Callable[..., Traced]]:
    made: list[Traced] = []

    def make(**settings: Any) -> Traced:
        made.append(Traced(observe_url, **settings))
        return made[-1]

    yield make
    for t in made:
        await t.db.disconnect()
        t.provider.shutdown()


async def system_name(db: Database) -> str:
    """``db.system.name`` as the conventions want it: the server product."""
    version = (await db.health_check()).server_version or ""
    return "mariadb" if version.startswith("MariaDB") else db.dialect


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def ids(spans: Sequence[ReadableSpan]) -> set[int]:
    return {s.context.span_id for s in spans if s.context is not None}


async def test_each_statement_is_a_client_span_following_the_database_conventions(
    traced: Callable[..., Traced],
) -> None:
    t = traced()
    async with t.db.session() as session:
        await session.execute("obs.insert_item", id=1, name=SECRET)
        row = await session.fetch_one("obs.item_by_id", id=1)
    assert row is not None
    expected_system = await system_name(t.db)
    (insert,) = t.named("obs.insert_item")
    (read,) = t.named("obs.item_by_id")
    query = t.db.queries["obs.item_by_id"]
    assert read.kind is SpanKind.CLIENT
    assert attributes(read) == {
        "db.system.name": expected_system,
        "db.system": expected_system,
        "db.namespace": t.db.url.database,
        **({"server.address": t.db.url.host} if t.db.url.host else {}),
        **({"server.port": t.db.url.port} if t.db.url.port else {}),
        "db.operation.name": "SELECT",
        "db.query.summary": "obs.item_by_id",
        "db.query.text": query.sql,
        "db.response.returned_rows": 1,
    }
    assert attributes(insert)["db.operation.name"] == "INSERT"
    assert attributes(insert)["db.query.text"].startswith("/* rawrepo:obs.insert_item */ INSERT")
    assert read.status.status_code is StatusCode.UNSET
    assert all(SECRET not in json.dumps(attributes(s), default=str) for s in t.spans())


async def test_sessions_and_transactions_are_the_parents_of_their_statements(
    traced: Callable[..., Traced],
) -> None:
    t = traced()
    outer = t.provider.get_tracer("test")
    with outer.start_as_current_span("request") as request:
        async with t.db.session() as session:
            await session.fetch_all("obs.all_items")  # before the transaction
            await session.execute("obs.insert_item", id=2, name="two")  # begins it
            await session.fetch_all("obs.all_items")  # inside it
    (session_span,) = t.named(SESSION_SPAN)
    (transaction,) = t.named(TRANSACTION_SPAN)
    reads = t.named("obs.all_items")
    (insert,) = t.named("obs.insert_item")
    assert session_span.kind is SpanKind.INTERNAL
    assert parent_of(session_span) == request.get_span_context().span_id
    assert parent_of(transaction) == session_span.context.span_id  # type: ignore[union-attr]
    assert parent_of(reads[0]) == session_span.context.span_id  # type: ignore[union-attr]
    assert parent_of(insert) == transaction.context.span_id  # type: ignore[union-attr]
    assert parent_of(reads[1]) == transaction.context.span_id  # type: ignore[union-attr]
    assert attributes(transaction)["rawrepo.transaction.outcome"] == "commit"
    assert {s.context.trace_id for s in t.spans()} == {request.get_span_context().trace_id}  # type: ignore[union-attr]
    # every span ended inside its parent
    assert session_span.start_time <= transaction.start_time  # type: ignore[operator]
    assert transaction.end_time <= session_span.end_time  # type: ignore[operator]


async def test_a_failed_statement_marks_its_span_transaction_and_session_as_errors(
    traced: Callable[..., Traced],
) -> None:
    t = traced()
    async with t.db.session() as session:
        await session.execute("obs.insert_item", id=3, name="three")
    with pytest.raises(UniqueViolation) as info:
        async with t.db.session() as session:
            await session.execute("obs.insert_item", id=3, name=SECRET)
    failed = t.named("obs.insert_item")[-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes(failed)["error.type"] == info.value.sqlstate
    assert attributes(failed)["db.response.status_code"] == info.value.sqlstate
    assert [e.name for e in failed.events] == ["exception"]
    transaction = t.named(TRANSACTION_SPAN)[-1]
    assert attributes(transaction)["rawrepo.transaction.outcome"] == "rollback"
    assert t.named(SESSION_SPAN)[-1].status.status_code is StatusCode.ERROR
    assert all(SECRET not in json.dumps(attributes(s), default=str) for s in t.spans())


async def test_execute_many_is_one_batch_span_and_an_autocommit_batch_its_own_transaction(
    traced: Callable[..., Traced],
) -> None:
    t = traced()
    rows = [{"id": 100 + i, "name": f"n{i}"} for i in range(4)]
    async with t.db.session(autocommit=True) as session:
        assert await session.execute_many("obs.insert_item", rows) == 4
    (batch,) = t.named("obs.insert_item")
    assert attributes(batch)["db.operation.name"] == "BATCH INSERT"
    assert attributes(batch)["db.operation.batch.size"] == 4
    (transaction,) = t.named(TRANSACTION_SPAN)
    assert parent_of(batch) == transaction.context.span_id  # type: ignore[union-attr]
    assert attributes(transaction)["rawrepo.transaction.outcome"] == "commit"
    (session_span,) = t.named(SESSION_SPAN)
    assert transaction.end_time <= session_span.end_time  # type: ignore[operator]


async def test_a_stream_is_one_span_with_the_rows_it_returned(
    traced: Callable[..., Traced],
) -> None:
    t = traced()
    async with t.db.session() as session:
        await session.execute("obs.insert_item", id=500, name="streamed")
        count = await session.fetch_value("obs.count_items")
        seen = [row async for row in session.stream("obs.all_items", batch_size=2)]
    assert len(seen) == count
    (span,) = t.named("obs.all_items")
    assert span.kind is SpanKind.CLIENT
    assert attributes(span)["db.response.returned_rows"] == count


async def test_tracing_off_records_no_span(
    traced: Callable[..., Traced], monkeypatch: pytest.MonkeyPatch
) -> None:
    off = traced(tracing=False)
    monkeypatch.setenv("SQL_TRACING", "0")
    env_off = traced()
    for t in (off, env_off):
        assert t.db.tracing is False
        async with t.db.session() as session:
            await session.fetch_all("obs.all_items")
        assert t.spans() == []


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


BLOCK_OPENTELEMETRY = """
import sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""


def test_without_opentelemetry_nothing_is_imported_and_nothing_is_hooked(
    migrated_database_url: str,
) -> None:
    out = run_python(
        BLOCK_OPENTELEMETRY
        + f"""
import asyncio, json, os
os.environ.pop("SQL_TRACING", None)
os.environ.pop("SQL_SLOW_MS", None)
os.environ.pop("SQL_ECHO", None)
from rawrepo import ConfigurationError, Database

async def main():
    async with Database({migrated_database_url!r}) as db, db.session() as session:
        await session.fetch_value("users.count", username=None)
        hooked = db._hook is not None
    try:
        Database({migrated_database_url!r}, tracing=True)
        refused = None
    except ConfigurationError as exc:
        refused = f"{{exc}} {{exc.hint}}"
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    print(json.dumps({{"tracing": db.tracing, "hooked": hooked, "loaded": loaded,
                      "refused": refused}}))

asyncio.run(main())
"""
    )
    result = json.loads(out)
    assert result["tracing"] is False
    assert result["hooked"] is False
    assert result["loaded"] == []
    assert "opentelemetry-api" in result["refused"]
    assert 'pip install "rawrepo[otel]"' in result["refused"]


def test_spans_go_to_the_global_tracer_provider_by_default(migrated_database_url: str) -> None:
    out = run_python(
        f"""
import asyncio, json, os
os.environ.pop("SQL_TRACING", None)
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rawrepo import Database

db = Database({migrated_database_url!r})  # made before the provider is set, as in an app
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    async with db, db.session() as session:
        await session.fetch_value("users.count", username=None)

asyncio.run(main())
print(json.dumps([s.name for s in exporter.get_finished_spans()]))
"""
    )
    assert json.loads(out) == ["users.count", SESSION_SPAN]


def test_tracing_demanded_without_the_package_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rawrepo.instrumentation as instrumentation

    monkeypatch.setattr(instrumentation, "_trace_module", None)  # as if not installed
    with pytest.raises(ConfigurationError) as info:
        Database("sqlite+aiosqlite:///:memory:", tracing=True)
    assert info.value.hint == 'pip install "rawrepo[otel]"'
    assert Database("sqlite+aiosqlite:///:memory:").tracing is False
    assert trace.get_tracer_provider() is not None


def test_opentelemetry_is_imported_only_by_a_database_that_traces() -> None:
    out = run_python(
        """
import json, os, sys
os.environ.pop("SQL_TRACING", None)
import rawrepo, rawrepo.instrumentation
after_import = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
rawrepo.Database("sqlite+aiosqlite:///:memory:", tracing=False)
after_untraced = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
rawrepo.Database("sqlite+aiosqlite:///:memory:")
traced = "opentelemetry.trace" in sys.modules
print(json.dumps([after_import, after_untraced, traced]))
"""
    )
    assert json.loads(out) == [[], [], True]
