"""What rawrepo reports about the statements it runs: SQL echo, the slow-query log
and OpenTelemetry spans.

A :class:`~rawrepo.Database` builds one :class:`Instrumentation` from its settings,
or none at all when echo, the slow-query log and tracing are all off; a session
then runs each statement straight on its connection, so what is off costs
nothing.

- **Echo** (``SQL_ECHO``): one INFO record per statement on the ``rawrepo.sql``
  logger: the query name, its duration and its row count.
- **Slow-query log** (``SQL_SLOW_MS`` / ``Database(slow_ms=)``): one WARNING record
  on ``rawrepo.sql`` for each statement that took at least that many milliseconds,
  with the query name, the duration, the row count (or the error) and the
  backend. The record's ``extra`` fields are ``query_name``, ``duration_ms``,
  ``rows``, ``backend`` and ``threshold_ms``.
- **Tracing** (``SQL_TRACING`` / ``Database(tracing=)``; on by default when
  ``opentelemetry-api`` is installed, ``pip install "rawrepo[otel]"``): each
  statement is a CLIENT span named after its query, following OpenTelemetry's
  database semantic conventions; each session is an INTERNAL ``rawrepo.session``
  span and its transaction (from the first write, or ``begin()``, to COMMIT or
  ROLLBACK) a ``rawrepo.transaction`` span inside it. Statement spans are children
  of their session's transaction span, or of the session span outside a
  transaction; the session span is a child of whatever span is current when the
  session opens (an HTTP request, say). Without the package nothing of
  OpenTelemetry is imported.

A streamed query (``session.stream``) is one span, from its first batch to its
last, with the rows it returned; it is neither echoed nor slow-logged, as its
time includes the time its consumer takes.

None of them ever records a parameter value: ``db.query.text`` is the statement
with its placeholders, as the file has it.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rawrepo.errors import ConfigurationError, DatabaseError

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from rawrepo.config import DatabaseURL, Dialect, Settings
    from rawrepo.database import Session
    from rawrepo.queries import Query

__all__ = [
    "COUNTERS",
    "SESSION_SPAN",
    "TRANSACTION_SPAN",
    "Instrumentation",
    "SessionTrace",
    "opentelemetry_trace",
    "sql_logger",
]

sql_logger = logging.getLogger("rawrepo.sql")

SESSION_SPAN = "rawrepo.session"
TRANSACTION_SPAN = "rawrepo.transaction"

COUNTERS: dict[str, Callable[[Any], int]] = {
    "fetch_all": len,
    "fetch_one": lambda row: 0 if row is None else 1,
    "fetch_value": lambda row: 0 if row is None else 1,
    "execute": int,
    "execute_many": int,
}
"""How many rows each Session operation's result stands for."""

_RETURNS_ROWS = frozenset({"fetch_all", "fetch_one", "fetch_value"})
_SYSTEMS: dict[Dialect, str] = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite"}
_UNSET: Any = object()
_trace_module: ModuleType | None = _UNSET


def opentelemetry_trace() -> ModuleType | None:
    """``opentelemetry.trace`` if opentelemetry-api is installed, else None (then
    nothing of it is imported; the answer is kept for the process)."""
    global _trace_module
    if _trace_module is _UNSET:
        try:
            _trace_module = importlib.import_module("opentelemetry.trace")
        except ImportError:
            _trace_module = None
    return _trace_module


def _error_type(exc: BaseException) -> str:
    """``error.type``: the database's code where it gave one, else the exception class
    (the driver's original one under a rawrepo error)."""
    if isinstance(exc, DatabaseError) and exc.sqlstate:
        return exc.sqlstate
    cause = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ else exc
    return f"{type(cause).__module__}.{type(cause).__qualname__}"


class SessionTrace:
    """The spans of one traced session: the session's own, and its transaction's
    while one is open. ``context`` is the parent of the next statement span."""

    __slots__ = ("_trace", "_tracer", "context", "session_span", "transaction_span")

    def __init__(self, trace: ModuleType, tracer: Tracer, attributes: Mapping[str, Any]) -> None:
        self._trace = trace
        self._tracer = tracer
        self.session_span: Span = tracer.start_span(
            SESSION_SPAN, kind=trace.SpanKind.INTERNAL, attributes=attributes
        )
        self.transaction_span: Span | None = None
        self.context: Any = trace.set_span_in_context(self.session_span)

    def begin(self) -> None:
        """The session's transaction started."""
        if self.transaction_span is None:
            self.transaction_span = self._tracer.start_span(
                TRANSACTION_SPAN, context=self.context, kind=self._trace.SpanKind.INTERNAL
            )
            self.context = self._trace.set_span_in_context(self.transaction_span)

    def end_transaction(self, outcome: str, exc: BaseException | None = None) -> None:
        """The transaction ended: ``outcome`` is ``commit`` or ``rollback``."""
        span, self.transaction_span = self.transaction_span, None
        if span is None:
            return
        span.set_attribute("rawrepo.transaction.outcome", outcome)
        if exc is not None:
            _record_error(self._trace, span, exc)
        span.end()
        self.context = self._trace.set_span_in_context(self.session_span)

    def end(self, exc: BaseException | None) -> None:
        """The session ended (with ``exc`` if it raised): its transaction was committed
        when it exited normally, else rolled back."""
        self.end_transaction("commit" if exc is None else "rollback", exc)
        if exc is not None:
            _record_error(self._trace, self.session_span, exc)
        self.session_span.end()


def _record_error(trace: ModuleType, span: Span, exc: BaseException) -> None:
    span.set_attribute("error.type", _error_type(exc))
    if isinstance(exc, DatabaseError) and exc.sqlstate:
        span.set_attribute("db.response.status_code", exc.sqlstate)
    span.record_exception(exc)
    span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))


class Instrumentation:
    """Echo, the slow-query log and tracing for one Database (see the module docstring)."""

    __slots__ = (
        "_attributes",
        "_base",
        "_trace",
        "backend",
        "echo",
        "identified",
        "slow_ms",
        "tracer",
    )

    def __init__(
        self,
        *,
        dialect: Dialect,
        url: DatabaseURL,
        echo: bool,
        slow_ms: float | None,
        trace: ModuleType | None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.backend = dialect
        self.echo = echo
        self.slow_ms = slow_ms
        self._trace = trace
        self.tracer: Tracer | None = None
        self._attributes: dict[Query, dict[str, Any]] = {}
        self._base: dict[str, Any] = {}
        self.identified = True
        """False until the server told MariaDB from MySQL (tracing a mysql:// URL)."""
        if trace is not None:
            from rawrepo import __version__

            provider = tracer_provider or trace.get_tracer_provider()
            self.tracer = provider.get_tracer("rawrepo", __version__)
            system = "mariadb" if url.scheme.startswith("mariadb") else _SYSTEMS[dialect]
            self._base = {"db.system.name": system, "db.system": system}
            self.identified = system != "mysql"
            if url.database and not url.is_memory:
                self._base["db.namespace"] = url.database
            if url.host:
                self._base["server.address"] = url.host
            if url.port:
                self._base["server.port"] = url.port

    @classmethod
    def build(
        cls, settings: Settings, echo: bool, tracer_provider: TracerProvider | None = None
    ) -> Instrumentation | None:
        """The instrumentation ``settings`` ask for, or None when there is nothing to do.
        ``tracer_provider``: where spans go (default: OpenTelemetry's global provider)."""
        trace = None
        if settings.tracing is not False:
            trace = opentelemetry_trace()
            if trace is None and settings.tracing:
                raise ConfigurationError(
                    "tracing is on (SQL_TRACING / Database(tracing=True)), but the"
                    " opentelemetry-api package is not installed",
                    variable="SQL_TRACING",
                    hint='pip install "rawrepo[otel]"',
                )
        if not echo and settings.slow_ms is None and trace is None:
            return None
        return cls(
            dialect=settings.url.dialect,
            url=settings.url,
            echo=echo,
            slow_ms=settings.slow_ms,
            trace=trace,
            tracer_provider=tracer_provider,
        )

    def session_trace(self) -> SessionTrace | None:
        """The spans of a new session (None when not tracing)."""
        if self.tracer is None or self._trace is None:
            return None
        return SessionTrace(self._trace, self.tracer, self._base)

    async def identify(self, session: Session) -> None:
        """Tell MariaDB from MySQL once, by the first connection's server version (which
        the driver knows from the handshake), for ``db.system.name``."""
        self.identified = True
        try:
            version = await session.connection.server_version()
        except Exception:  # pragma: no cover - the MySQL drivers answer from the handshake
            return
        if version.startswith("MariaDB"):
            self._base = {**self._base, "db.system.name": "mariadb", "db.system": "mariadb"}
            self._attributes.clear()
            if session._trace is not None:
                session._trace.session_span.set_attribute("db.system.name", "mariadb")
                session._trace.session_span.set_attribute("db.system", "mariadb")

    def _span_attributes(self, query: Query) -> dict[str, Any]:
        found = self._attributes.get(query)
        if found is None:
            text = query.sql.replace("%%", "%") if query.dialect == "mysql" else query.sql
            found = {
                **self._base,
                "db.operation.name": query.operation,
                "db.query.summary": query.name,
                "db.query.text": text,
            }
            self._attributes[query] = found
        return found

    def _start_span(self, session: Session, op: str, query: Query, args: Any) -> Span | None:
        tracer = self.tracer
        if tracer is None or self._trace is None:
            return None
        attributes = self._span_attributes(query)
        if op == "execute_many" and len(args) > 1:
            attributes = {
                **attributes,
                "db.operation.name": f"BATCH {query.operation}",
                "db.operation.batch.size": len(args),
            }
        trace = session._trace
        return tracer.start_span(
            query.name,
            context=trace.context if trace is not None else None,
            kind=self._trace.SpanKind.CLIENT,
            attributes=attributes,
        )

    async def run(
        self,
        session: Session,
        op: str,
        query: Query,
        args: Any,
        send: Callable[[str, Query, Any], Awaitable[Any]],
    ) -> Any:
        """``await send(op, query, args)`` (the session's statement, retries included),
        echoed, timed against the slow-query threshold and traced."""
        span = self._start_span(session, op, query, args)
        start = time.perf_counter()
        try:
            result = await send(op, query, args)
        except BaseException as exc:
            elapsed = (time.perf_counter() - start) * 1000
            if span is not None:
                _record_error(self._trace, span, exc)  # type: ignore[arg-type]
                span.end()
            if self.slow_ms is not None and elapsed >= self.slow_ms:
                self._log_slow(query, elapsed, None, exc)
            raise
        elapsed = (time.perf_counter() - start) * 1000
        rows = COUNTERS[op](result)
        if self.echo:
            sql_logger.info("%s %.3f ms, %d row(s)", query.name, elapsed, rows)
        if self.slow_ms is not None and elapsed >= self.slow_ms:
            self._log_slow(query, elapsed, rows, None)
        if span is not None:
            if op in _RETURNS_ROWS:
                span.set_attribute("db.response.returned_rows", rows)
            span.end()
        return result

    def stream_span(self, session: Session, query: Query) -> Span | None:
        """The span of a streamed statement (ended by the caller with :meth:`end_stream`)."""
        return self._start_span(session, "stream", query, None)

    def end_stream(self, span: Span, rows: int, exc: BaseException | None) -> None:
        span.set_attribute("db.response.returned_rows", rows)
        if exc is not None:
            _record_error(self._trace, span, exc)  # type: ignore[arg-type]
        span.end()

    def _log_slow(
        self, query: Query, elapsed: float, rows: int | None, exc: BaseException | None
    ) -> None:
        outcome = f"{rows} row(s)" if exc is None else f"failed ({type(exc).__name__})"
        sql_logger.warning(
            "slow query %s: %.1f ms, %s, on %s (SQL_SLOW_MS %g)",
            query.name,
            elapsed,
            outcome,
            self.backend,
            self.slow_ms,
            extra={
                "query_name": query.name,
                "duration_ms": round(elapsed, 3),
                "rows": rows,
                "backend": self.backend,
                "threshold_ms": self.slow_ms,
            },
        )
