"""What to do about a trace: database timeouts (across retries or once), a dependency down on
every retry, N+1 queries and spans slow on their own (definitions in
``telemetry.diagnosis.analysis``). Each recommendation cites its evidence and its spans."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from instrumentation import attributes
from telemetry.diagnosis.model import Recommendation
from telemetry.diagnosis.root_cause import attempt_span, error_origins, fault_of
from telemetry.diagnosis.spans import (
    attempt_number,
    error_of,
    error_text,
    is_query,
    label,
    normalize_statement,
    statement_of,
    task_name,
    url_of,
)
from telemetry.diagnosis.text import on_attempts
from telemetry.diagnosis.timing import self_time_ns, wall_ns
from telemetry.models import Span
from telemetry.tree import SpanTree

Tree = SpanTree[Span]

N_PLUS_ONE_MIN = 5
SLOW_SHARE = 0.25  # of the trace's wall time

TIMEOUT_ERROR = re.compile(
    r"timeout|timed out|interrupted|querycanceled|canceling statement|locked|lock wait", re.IGNORECASE
)


def recommendations(tree: Tree) -> tuple[Recommendation, ...]:
    found = db_timeouts(tree) + failing_calls(tree) + n_plus_one(tree)
    cited = {span_id for rec in found for span_id in rec.span_ids}
    return tuple(found + slow_spans(tree, cited))


def attempts_of(tree: Tree, spans: Iterable[Span]) -> list[int]:
    runs = (attempt_span(tree, span) for span in spans)
    return sorted({attempt_number(run) for run in runs if run})


# -- database timeouts --------------------------------------------------------------------


def timed_out_statements(tree: Tree) -> list[Span]:
    """Statements the database stopped: timeout, interrupted, QueryCanceled, locked."""
    return [
        s
        for s in tree.spans
        if s.status == "ERROR" and statement_of(s) and TIMEOUT_ERROR.search(" ".join(error_of(s)))
    ]


def db_timeouts(tree: Tree) -> list[Recommendation]:
    timeouts = timed_out_statements(tree)
    if not timeouts:
        return []
    attempts = attempts_of(tree, timeouts)
    evidence, ids = timeout_evidence(tree, timeouts, attempts), tuple(s.span_id for s in timeouts)
    if len(attempts) >= 2:
        advice = (
            "Retrying does not help while the database keeps timing out: check the connection pool "
            "size against the worker's concurrency, the statement and lock timeouts (PostgreSQL "
            "statement_timeout / lock_timeout, SQLite busy timeout) and what holds the locks, and "
            "put a circuit breaker in front of the database so attempts fail fast and back off."
        )
        return [Recommendation("db_timeout_on_retries", evidence, advice, ids)]
    advice = (
        "A statement hit the database's timeout: check what held its rows or the lock at that "
        "moment and whether the timeout fits the statement; retries with backoff cover a one-off."
    )
    return [Recommendation("db_timeout", evidence, advice, ids)]


def timeout_evidence(tree: Tree, timeouts: list[Span], attempts: list[int]) -> str:
    first = timeouts[0]
    faults = sorted({f for f in (fault_of(tree, s) for s in timeouts) if f})
    # The attempts may all belong to later timeouts: the first may sit outside any task run.
    run = attempt_span(tree, first)
    where = f" {on_attempts(attempts)} of {task_name(run)}" if attempts and run is not None else ""
    injected = f"; injected fault {', '.join(faults)}" if faults else ""
    return f"{label(first)} on {first.service} failed with {error_text(first)}{where}{injected}"


# -- a dependency down --------------------------------------------------------------------


def failing_calls(tree: Tree) -> list[Recommendation]:
    """Calls to another app that failed in two attempts or more."""
    calls = [s for s in error_origins(tree) if s.kind == "CLIENT" and not statement_of(s)]
    attempts = attempts_of(tree, calls)
    if len(attempts) < 2:
        return []
    url = url_of(calls[0]) or calls[0].name
    evidence = f"{calls[0].service} → {url} failed with {error_text(calls[0])} {on_attempts(attempts)}"
    advice = (
        "The callee was down or unreachable on every retry: check that it runs and where the client "
        "points; a circuit breaker would fail fast while it is down instead of spending the retries."
    )
    ids = tuple(s.span_id for s in calls)
    return [Recommendation("dependency_failing_on_retries", evidence, advice, ids)]


# -- N+1 ----------------------------------------------------------------------------------


def n_plus_one(tree: Tree) -> list[Recommendation]:
    found = []
    for parent in tree.spans:
        children = tree.children(parent)
        shapes = Counter(normalize_statement(st) for st in map(statement_of, children) if st and is_query(st))
        # Reads folded into the parent instead of exported (instrumentation/statements.py)
        # still count: the parent names the one repeated most, and how often.
        folded = parent.attributes.get(attributes.DB_SUMMARY_TOP_STATEMENT)
        if folded and is_query(str(folded)):
            repeats = int(parent.attributes.get(attributes.DB_SUMMARY_TOP_COUNT, 0))
            shapes[normalize_statement(str(folded))] += repeats
        for shape, count in shapes.items():
            if count >= N_PLUS_ONE_MIN:
                found.append(n_plus_one_advice(tree, parent, shape, count))
    return found


def n_plus_one_advice(tree: Tree, parent: Span, shape: str, count: int) -> Recommendation:
    verb = shape.split(None, 1)[0].upper()
    fix = (
        "bulk_create / bulk_update, or one UPDATE … WHERE id IN (…)"
        if verb in {"INSERT", "UPDATE", "DELETE"}
        else "select_related / prefetch_related, or one query with id__in=[…]"
    )
    evidence = f"{count} near-identical statements in {parent.name} ({parent.service}): {shape[:160]}"
    advice = f"An N+1 query: one statement per row. Fetch or write the rows at once: {fix}."
    children = tree.children(parent)
    ids = tuple(c.span_id for c in children if normalize_statement(statement_of(c) or "") == shape)
    return Recommendation("n_plus_one", evidence, advice, ids or (parent.span_id,))


# -- slow spans ---------------------------------------------------------------------------


def slow_spans(tree: Tree, cited: set[str]) -> list[Recommendation]:
    wall = wall_ns(tree.spans) or 1
    found = []
    for span in tree.spans:
        own = self_time_ns(span, tree.children(span))
        if tree.parent(span) and span.span_id not in cited and own > SLOW_SHARE * wall:
            found.append(slow_span_advice(tree, span, own, wall))
    return found


def slow_span_advice(tree: Tree, span: Span, own: int, wall: int) -> Recommendation:
    children = tree.children(span)
    fault = span.attributes.get(attributes.FAULT_NAME)
    evidence = (
        f"{span.name} on {span.service} spent {own / 1e6:.0f} ms of the trace's {wall / 1e6:.0f} ms "
        + ("with no child span" if not children else f"outside its {len(children)} child span(s)")
        + (f"; injected fault {fault}" if fault else "")
    )
    if statement_of(span):
        advice = "The statement itself is slow: EXPLAIN it, check its indexes and what locks its rows."
    elif span.kind == "CLIENT":
        advice = (
            "The callee answered slowly and is not traced below this call: look at it; keep a read timeout."
        )
    else:
        advice = (
            "Time spent in no traced call: look at the external call this span makes (a gateway, an "
            "API, a sleep), give it a timeout, and a span of its own to see it next time."
        )
    kind = "slow_leaf" if not children else "uninstrumented_time"
    return Recommendation(kind, evidence, advice, (span.span_id,))
