"""Which finished spans are exported, and the SQL statements folded into their parent.

An order's trace is mostly single SQL statements (59 of 79 spans, most of them a fast
``SELECT``, ``BEGIN``, ``COMMIT``, or a write of bookkeeping: an order event, an outbox
row, an idempotency record) that say nothing the span they ran under cannot say in a line.
``ExportFilter`` sits in front of the exporting processors (the store's, the OTLP one) and,
with ``summarise`` on, exports a statement span only when it says something:

- it failed (the statement, the driver's error and the stack stay where they happened);
- it was slow (``slow_ms`` or longer: a lock wait on ``BEGIN``, a query missing an index,
  a write that waited for a row lock or held the file's);
- it did not run under a live span of this process (nothing to fold it into).

Every other statement is counted for its parent span, which is still open when its
statements end, and the copy of the parent that is exported says: ``db.summary.count``
statements taking ``db.summary.duration_ms``; the statement repeated most
(``db.summary.top_statement``, ``db.summary.top_count``; never transaction control), which
is what an N+1 pattern looks like, a repeated write as much as a repeated read; and what was
written (``db.summary.writes``: ``UPDATE orders_order``, ``INSERT orders_orderevent ×2``),
so the trace still says what each step changed. The ``SELECT QUOTE(?)`` Django's SQLite
backend runs only to log SQL in DEBUG mode is never exported.

A folded statement is held (the last ``HELD_PER_PARENT`` of each parent) until its parent
ends, and then let go: the parent's summary says it. A flush while the parent is still open
exports what is held, as the statement spans they are: the process is about to die (a crash
fault's checkpoint, ``instrumentation.context.flush_before_kill``) or to stop, and a run that
will never end shows what it did by those orphans, which is how the diagnosis tells a worker
lost mid-run.

A statement that will be folded is not made a span at all: ``fold_before_span`` has the
DB-API instrumentation (sqlite3, psycopg) time a statement run under an open parent and
count it there, and make its span only afterwards, with its real start, if it failed or was
slow (a span made and ended only to be folded cost 31-54 µs of CPU, counting it costs about
6 µs, and a confirmed order runs 74 statements).
What is held for a flush is then the statement, its times and its context, made a span
only if the flush comes. ``ExportFilter`` still folds the statement spans other code makes.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.dbapi import CursorTracer
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import attributes
from instrumentation.copies import with_attributes

SQL_SYSTEMS = frozenset({"sqlite", "postgresql"})
# A statement that begins with one of these and ends quickly, without error, is folded
# into its parent: reads, transaction control and writes (named on the parent by table).
FOLDED_VERBS = frozenset(
    {"SELECT", "BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "SET", "SHOW", "INSERT", "UPDATE", "DELETE"}
)
TOP_STATEMENT_LENGTH = 300  # enough to name the table and the filter of an N+1 query
# Counted, never the top statement: a task run's BEGINs outnumbering its repeated SELECT
# would hide the N+1 the top statement is there to show.
TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "SHOW"})
HELD_PER_PARENT = 32  # per open parent: what a flush exports of a run about to die
# ``INSERT INTO "orders_orderevent" …`` → ("INSERT", "orders_orderevent")
_WRITE = re.compile(r'\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([\w.]+)', re.I)


class ExportFilter(SpanProcessor):
    """Hands finished spans to every processor in ``exporting`` except noise and, with
    ``summarise``, the statements worth no span of their own (see the module docstring)."""

    def __init__(self, exporting: Sequence[SpanProcessor], *, summarise: bool, slow_ms: float) -> None:
        self.exporting = list(exporting)
        self.summarise = summarise
        self.slow_ns = int(slow_ms * 1_000_000)
        # The spans of this process still open, by span id: a statement's parent is one.
        self._open: weakref.WeakValueDictionary[int, Span] = weakref.WeakValueDictionary()
        self._folded: dict[int, _Folded] = {}
        self._lock = threading.Lock()
        self._releasing = threading.local()  # this thread is exporting what was held

    def on_start(self, span: Span, parent_context=None) -> None:
        if self.summarise and span.context.trace_flags.sampled:
            self._open[span.context.span_id] = span
        for processor in self.exporting:
            processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if _is_quote_noise(span):
            return
        if self.summarise and span.context.trace_flags.sampled:
            self._open.pop(span.context.span_id, None)
            with self._lock:
                folded = self._folded.pop(span.context.span_id, None)
            if not getattr(self._releasing, "active", False) and self._fold(span):
                return
            if folded is not None:
                # Told once, as it ends: telling a live span each time was most of a
                # folded statement's cost (the SDK checks every attribute it is given).
                span = with_attributes(span, folded.attributes())
        for processor in self.exporting:
            processor.on_end(span)

    def open_parent(self, span: trace.Span) -> Span | None:
        """``span`` if statements run under it are folded: a live, sampled span of this
        process, with summarising on; else None."""
        if not self.summarise:
            return None
        parent = self._open.get(span.get_span_context().span_id)
        return parent if parent is span and parent.is_recording() else None

    def fold_statement(self, parent: Span, statement: str, duration_ns: int, held: _Held) -> bool:
        """Count ``statement`` on ``parent`` if it is a fast read, write or transaction
        control; False when it needs a span of its own (slow, or some other verb)."""
        if not _foldable(statement, duration_ns, self.slow_ns):
            return False
        if not _is_quote_noise_statement(statement):
            self._count(parent, statement, duration_ns, held)
        return True

    def _fold(self, span: ReadableSpan) -> bool:
        """Count ``span`` on its open parent instead of exporting it; False to export it."""
        statement = foldable_statement(span, self.slow_ns)
        if statement is None or span.parent is None:
            return False
        parent = self._open.get(span.parent.span_id)
        if parent is None or not parent.is_recording():
            return False
        self._count(parent, statement, (span.end_time or 0) - (span.start_time or 0), span)
        return True

    def _count(self, parent: Span, statement: str, duration_ns: int, held: _Held) -> None:
        with self._lock:
            folded = self._folded.get(parent.context.span_id)
            if folded is None:
                folded = self._folded[parent.context.span_id] = _Folded()
            folded.add(statement, duration_ns)
            folded.held.append(held)

    def _release_held(self) -> None:
        """Export the statements held for parents still open (see the module docstring)."""
        with self._lock:
            held = [span for folded in self._folded.values() for span in folded.held]
            for folded in self._folded.values():
                folded.held.clear()
        self._releasing.active = True  # a statement made a span now is exported, not folded
        try:
            for item in held:
                if isinstance(item, _HeldStatement):
                    item.make_span()  # through the provider's processors, this one included
                    continue
                for processor in self.exporting:
                    processor.on_end(item)
        finally:
            self._releasing.active = False

    def shutdown(self) -> None:
        self._release_held()
        for processor in self.exporting:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._release_held()
        return all(processor.force_flush(timeout_millis) for processor in self.exporting)


class _HeldStatement:
    """A statement folded without ever being a span: what it takes to make it one."""

    __slots__ = ("context", "cursor_tracer", "end_ns", "start_ns", "statement")

    def __init__(
        self, cursor_tracer: CursorTracer, statement: str, start_ns: int, end_ns: int, context: Any
    ) -> None:
        self.cursor_tracer = cursor_tracer
        self.statement = statement
        self.start_ns, self.end_ns = start_ns, end_ns
        self.context = context  # the parent's, baggage included: what its span would have had

    def make_span(self) -> None:
        _span_after_the_fact(
            self.cursor_tracer, None, (self.statement,), self.start_ns, self.end_ns, None, self.context
        )


_Held = ReadableSpan | _HeldStatement


class _Folded:
    """The statements folded into one parent so far, and the summary its exported copy gets."""

    __slots__ = ("count", "duration_ns", "held", "repeats", "top", "top_count", "writes")

    def __init__(self) -> None:
        self.count = 0
        self.duration_ns = 0
        self.repeats: Counter[str] = Counter()
        self.top, self.top_count = "", 0  # the statement repeated most, and how often
        self.writes: Counter[str] = Counter()  # "UPDATE orders_order", in the order first written
        self.held: deque[_Held] = deque(maxlen=HELD_PER_PARENT)

    def add(self, statement: str, duration_ns: int) -> None:
        self.count += 1
        self.duration_ns += duration_ns
        if _verb(statement) not in TRANSACTION_CONTROL:
            key = statement[:TOP_STATEMENT_LENGTH]
            repeated = self.repeats[key] = self.repeats[key] + 1
            if repeated > self.top_count:
                self.top, self.top_count = key, repeated
        if write := _WRITE.match(statement):
            self.writes[f"{write.group(1).split()[0].upper()} {write.group(2)}"] += 1

    def attributes(self) -> dict[str, str | int | float | tuple[str, ...]]:
        summary: dict[str, str | int | float | tuple[str, ...]] = {
            attributes.DB_SUMMARY_COUNT: self.count,
            attributes.DB_SUMMARY_DURATION_MS: round(self.duration_ns / 1e6, 3),
        }
        if self.top:
            summary[attributes.DB_SUMMARY_TOP_STATEMENT] = self.top
            summary[attributes.DB_SUMMARY_TOP_COUNT] = self.top_count
        if self.writes:
            summary[attributes.DB_SUMMARY_WRITES] = tuple(
                write if times == 1 else f"{write} ×{times}" for write, times in self.writes.items()
            )
        return summary


def foldable_statement(span: ReadableSpan, slow_ns: int) -> str | None:
    """The statement of a fast, successful statement span (a read, a write, transaction
    control); None for any other span (not SQL, failed, slow)."""
    span_attributes = span.attributes or {}
    if span_attributes.get("db.system") not in SQL_SYSTEMS:
        return None
    if span.status.status_code is StatusCode.ERROR or span.events:
        return None
    statement = str(span_attributes.get("db.statement") or span.name)
    duration_ns = (span.end_time or 0) - (span.start_time or 0)
    return statement if _foldable(statement, duration_ns, slow_ns) else None


def _foldable(statement: str, duration_ns: int, slow_ns: int) -> bool:
    """A successful statement is folded when it was fast and is a read, a write or
    transaction control (the one rule for statement spans and for statements never made one)."""
    return duration_ns < slow_ns and _verb(statement) in FOLDED_VERBS


def _verb(statement: str) -> str:
    """``SELECT``, ``BEGIN``…: a statement's first word, upper-cased; "" for a blank one."""
    words = statement.split(None, 1)
    return words[0].upper() if words else ""


def _is_quote_noise(span: ReadableSpan) -> bool:
    return _is_quote_noise_statement(str((span.attributes or {}).get("db.statement", "")))


def _is_quote_noise_statement(statement: str) -> bool:
    return statement.startswith("SELECT QUOTE(")


_folding: ExportFilter | None = None  # whose open parents statements are counted on
_traced_execution = CursorTracer.traced_execution  # the instrumentation's own


def fold_before_span(export_filter: ExportFilter | None) -> None:
    """Have the DB-API instrumentation (sqlite3, psycopg: both run statements through
    ``CursorTracer.traced_execution``) count a fast statement on ``export_filter``'s open
    parent without making it a span; None puts the instrumentation's own back."""
    global _folding
    _folding = export_filter
    CursorTracer.traced_execution = _traced_execution if export_filter is None else _fold_or_trace  # type: ignore[method-assign]


def _fold_or_trace(
    self: CursorTracer, cursor: Any, query_method: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """``CursorTracer.traced_execution`` for statements that may be folded: run and time the
    statement, then count it on the span it ran under, or make its span, start and end as
    they were, when it failed or was slow. Anything else takes the instrumentation's path."""
    folding = _folding
    parent = folding.open_parent(trace.get_current_span()) if folding is not None else None
    if parent is None or folding is None or self._commenter_enabled or not is_instrumentation_enabled():
        return _traced_execution(self, cursor, query_method, *args, **kwargs)
    started, start_ns = time.perf_counter(), time.time_ns()
    try:
        result = query_method(*args, **kwargs)
    except Exception as error:
        _span_after_the_fact(self, cursor, args, start_ns, time.time_ns(), error)
        _record_metrics(self, cursor, args, started, error)
        raise
    end_ns = time.time_ns()
    statement = self.get_statement(cursor, args)
    held = _HeldStatement(self, statement, start_ns, end_ns, otel_context.get_current())
    if not folding.fold_statement(parent, statement, end_ns - start_ns, held):
        _span_after_the_fact(self, cursor, args, start_ns, end_ns, None)
    _record_metrics(self, cursor, args, started, None)
    return result


def _record_metrics(
    cursor_tracer: CursorTracer, cursor: Any, args: Sequence[Any], started: float, error: Exception | None
) -> None:
    """The instrumentation's database client metrics, as its own path records them."""
    cursor_tracer._record_metrics(cursor, cursor_tracer.get_operation_name(cursor, args), started, error)


def _span_after_the_fact(
    cursor_tracer: CursorTracer,
    cursor: Any,
    args: Sequence[Any],
    start_ns: int,
    end_ns: int,
    error: Exception | None,
    context: Any = None,
) -> None:
    """The span the instrumentation would have made for this statement (name, kind,
    attributes, the error recorded as ``start_as_current_span`` records it), made now."""
    integration = cursor_tracer._db_api_integration
    name = cursor_tracer.get_operation_name(cursor, args) or integration.database or integration.name
    span = integration._tracer.start_span(name, context=context, kind=SpanKind.CLIENT, start_time=start_ns)
    cursor_tracer._populate_span(span, cursor, *args)
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end(end_time=end_ns)
