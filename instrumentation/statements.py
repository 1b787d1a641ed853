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

Every other statement is counted on its parent span, which is still open when its
statements end: ``db.summary.count`` statements taking ``db.summary.duration_ms``; the
statement repeated most (``db.summary.top_statement``, ``db.summary.top_count``; never
transaction control), which is what an N+1 pattern looks like, a repeated write as much as
a repeated read; and what was
written (``db.summary.writes``: ``UPDATE orders_order``, ``INSERT orders_orderevent ×2``),
so the trace still says what each step changed. The ``SELECT QUOTE(?)`` Django's SQLite
backend runs only to log SQL in DEBUG mode is never exported.

A folded statement is held (the last ``HELD_PER_PARENT`` of each parent) until its parent
ends, and then let go: the parent's summary says it. A flush while the parent is still open
exports what is held, as the statement spans they are: the process is about to die (a crash
fault's checkpoint, ``instrumentation.context.flush_before_kill``) or to stop, and a run that
will never end shows what it did by those orphans, which is how the diagnosis tells a worker
lost mid-run.

Only what is exported changes: every span is still created and timed (the sampler, the
metrics and the parent's own duration see all of them).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter, deque
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from instrumentation import attributes

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
                self._folded.pop(span.context.span_id, None)
            if self._fold(span):
                return
        for processor in self.exporting:
            processor.on_end(span)

    def _fold(self, span: ReadableSpan) -> bool:
        """Count ``span`` on its open parent instead of exporting it; False to export it."""
        statement = foldable_statement(span, self.slow_ns)
        if statement is None or span.parent is None:
            return False
        parent = self._open.get(span.parent.span_id)
        if parent is None or not parent.is_recording():
            return False
        duration_ns = (span.end_time or 0) - (span.start_time or 0)
        with self._lock:
            folded = self._folded.setdefault(span.parent.span_id, _Folded())
            changed = folded.add(statement, duration_ns)
            folded.held.append(span)
            summary = folded.attributes(changed)
        parent.set_attributes(summary)
        return True

    def _release_held(self) -> None:
        """Export the statements held for parents still open (see the module docstring)."""
        with self._lock:
            held = [span for folded in self._folded.values() for span in folded.held]
            for folded in self._folded.values():
                folded.held.clear()
        for span in held:
            for processor in self.exporting:
                processor.on_end(span)

    def shutdown(self) -> None:
        self._release_held()
        for processor in self.exporting:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._release_held()
        return all(processor.force_flush(timeout_millis) for processor in self.exporting)


class _Folded:
    """The statements folded into one parent so far. ``add`` says which of the summary's
    attributes it changed beyond the count and time: the parent is told only those (a
    dozen statements per request or task run, five attributes each was 2 % of a worker)."""

    __slots__ = ("count", "duration_ns", "held", "repeats", "top", "top_count", "writes")

    def __init__(self) -> None:
        self.count = 0
        self.duration_ns = 0
        self.repeats: Counter[str] = Counter()
        self.top, self.top_count = "", 0  # the statement repeated most, and how often
        self.writes: Counter[str] = Counter()  # "UPDATE orders_order", in the order first written
        self.held: deque[ReadableSpan] = deque(maxlen=HELD_PER_PARENT)

    def add(self, statement: str, duration_ns: int) -> tuple[bool, bool]:
        """Counts one more statement; returns whether the top statement and the writes changed."""
        self.count += 1
        self.duration_ns += duration_ns
        top_changed = False
        if _verb(statement) not in TRANSACTION_CONTROL:
            key = statement[:TOP_STATEMENT_LENGTH]
            repeated = self.repeats[key] = self.repeats[key] + 1
            top_changed = repeated > self.top_count
            if top_changed:
                self.top, self.top_count = key, repeated
        write = _WRITE.match(statement)
        if write:
            self.writes[f"{write.group(1).split()[0].upper()} {write.group(2)}"] += 1
        return top_changed, write is not None

    def attributes(
        self, changed: tuple[bool, bool] = (True, True)
    ) -> dict[str, str | int | float | tuple[str, ...]]:
        top_changed, writes_changed = changed
        summary: dict[str, str | int | float | tuple[str, ...]] = {
            attributes.DB_SUMMARY_COUNT: self.count,
            attributes.DB_SUMMARY_DURATION_MS: round(self.duration_ns / 1e6, 3),
        }
        if top_changed:
            summary[attributes.DB_SUMMARY_TOP_STATEMENT] = self.top
            summary[attributes.DB_SUMMARY_TOP_COUNT] = self.top_count
        if writes_changed and self.writes:
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
    if (span.end_time or 0) - (span.start_time or 0) >= slow_ns:
        return None
    statement = str(span_attributes.get("db.statement") or span.name)
    return statement if _verb(statement) in FOLDED_VERBS else None


def _verb(statement: str) -> str:
    """``SELECT``, ``BEGIN``…: a statement's first word, upper-cased; "" for a blank one."""
    words = statement.split(None, 1)
    return words[0].upper() if words else ""


def _is_quote_noise(span: ReadableSpan) -> bool:
    return str((span.attributes or {}).get("db.statement", "")).startswith("SELECT QUOTE(")
