"""Lock waits: the time a transaction waited to begin or for a row, and who held the lock
when the trace shows it; and the database engine a trace ran on, so the advice fits it.

Nothing extra is recorded for them: the statement span that waited is the evidence. A
statement span is exported on its own when it was slow (``instrumentation.statements``),
so a ``BEGIN`` that waited shows up, and a ``BEGIN`` does no work: its whole duration is
the wait. On SQLite that is the wait for the file's write lock (``BEGIN IMMEDIATE`` takes
it; the busy timeout bounds the wait); a write outside a transaction takes the lock
itself, so a write that took that long without error waited too. On PostgreSQL ``BEGIN``
never waits; a row lock is waited for by the write that touches the row, so there a write
that ended without error, slow, while another process of the trace wrote to the same
table, is the waiter.

The holder is the statement of another process in the trace that ran during the wait and
did not wait itself (a failing or fault-stalled statement first, then a write, then the
longest overlap): the worker's stalled ``UPDATE`` holding SQLite's write lock while the
checkout's ``BEGIN`` waits. A holder
outside the trace (another order's transaction) is not named: the wait is, with its time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from telemetry.diagnosis.spans import short_statement, statement_of
from telemetry.models import Span
from telemetry.tree import SpanTree

Tree = SpanTree[Span]

LOCK_WAIT_MIN_NS = 200_000_000  # a BEGIN this slow waited for a lock (one does no work); less is noise
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")
SQL_ENGINES = ("sqlite", "postgresql")  # the engines the advice knows


@dataclass(frozen=True)
class LockWait:
    waiter: Span
    wait_ns: int
    holder: Span | None


def engine(tree: Tree) -> str:
    """``sqlite``, ``postgresql`` or "" : the engine most statement spans ran on (computed
    once per tree: the diagnosis asks three times)."""
    if "engine" not in tree.memo:
        tree.memo["engine"] = _engine(tree)
    return tree.memo["engine"]


def _engine(tree: Tree) -> str:
    # SQL engines only: a trace's fast statements are folded into their parents
    # (instrumentation/statements.py), so its Redis calls can outnumber the statement spans.
    systems = Counter(
        system
        for s in tree.spans
        if (system := str(s.attributes.get("db.system") or s.attributes.get("db.system.name") or ""))
        in SQL_ENGINES
    )
    return systems.most_common(1)[0][0] if systems else ""


def verb(span: Span) -> str:
    statement = (statement_of(span) or "").strip()
    return statement.split(None, 1)[0].upper() if statement else ""


def is_begin(span: Span) -> bool:
    return verb(span) == "BEGIN"


def process_of(span: Span) -> tuple[str, str]:
    """Which process made the span: its pid when stored, else its service."""
    return (str((span.resource or {}).get("process.pid", "")), span.service)


def lock_waits(tree: Tree) -> list[LockWait]:
    """Every statement that waited for a lock (see the module docstring), longest first."""
    waiting = waiters(tree)
    waits = [LockWait(span, span.duration_ns, holder(tree, span, waiting)) for span in waiting]
    return sorted(waits, key=lambda w: -w.wait_ns)


def waiters(tree: Tree) -> list[Span]:
    kind = engine(tree)
    found = []
    for span in tree.spans:
        if span.duration_ns < LOCK_WAIT_MIN_NS or not statement_of(span) or span.status == "ERROR":
            continue
        if is_begin(span):
            found.append(span)
        elif verb(span) in WRITE_VERBS and span.attributes.get("fault.name") is None:
            if kind == "sqlite" or (kind == "postgresql" and _row_lock_wait(tree, span)):
                found.append(span)
    return found


def _row_lock_wait(tree: Tree, span: Span) -> bool:
    table = short_statement(statement_of(span) or "")
    return any(short_statement(statement_of(h) or "") == table for h in _overlapping(tree, span))


def _overlapping(tree: Tree, waiter: Span) -> list[Span]:
    """Statements of other processes that ran while ``waiter`` waited."""
    mine = process_of(waiter)
    return [
        s
        for s in tree.spans
        if s is not waiter
        and statement_of(s)
        and process_of(s) != mine
        and s.start_time_ns < waiter.end_time_ns
        and s.end_time_ns > waiter.start_time_ns
    ]


def holder(tree: Tree, waiter: Span, waiting: list[Span]) -> Span | None:
    """The statement of another process in the trace that most likely held the lock."""
    candidates = [s for s in _overlapping(tree, waiter) if not is_begin(s) and s not in waiting]

    def weight(s: Span) -> tuple[bool, bool, int]:
        overlap = min(s.end_time_ns, waiter.end_time_ns) - max(s.start_time_ns, waiter.start_time_ns)
        stalled = s.status == "ERROR" or tree.nearest(s, "fault.name") is not None
        return (stalled, verb(s) in WRITE_VERBS, overlap)

    return max(candidates, key=weight) if candidates else None
