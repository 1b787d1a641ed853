"""Where a trace's trouble started: the earliest error span with no error below it, the
Celery attempt it belongs to, the injected fault over it and the later attempts that
failed the same way (definitions in ``telemetry.diagnosis.analysis``)."""

from __future__ import annotations

from instrumentation import attributes
from telemetry.diagnosis.model import RootCause
from telemetry.diagnosis.spans import (
    attempt_number,
    error_of,
    exception_event,
    label,
    normalize_statement,
    statement_of,
    task_name,
)
from telemetry.diagnosis.stack import folded_lines, has_application_frames
from telemetry.models import Span
from telemetry.tree import SpanTree

Tree = SpanTree[Span]


def error_origins(tree: Tree) -> list[Span]:
    """Error spans with no error child: where each error started."""
    errors = [s for s in tree.spans if s.status == "ERROR"]
    return [s for s in errors if not any(c.status == "ERROR" for c in tree.children(s))]


def first_error(tree: Tree) -> Span | None:
    """The root cause's span: among the origins no other origin lies below, the earliest
    to start, the deepest at equal start. An origin below another explains it though a
    span between them ended ok: the gateway's decline under the payments request that
    answered 402 (a client error is not a server's) explains the shop's failed call. An
    origin the code tolerated by design (under a ``threadline.tolerated`` span: the
    throttle's cache read when Redis is down) yields to any other: the same outage's failed
    publish, later, is what changed the order's course."""
    origins = error_origins(tree)
    explained: set[str] = set()
    for origin in origins:
        explained.update(s.span_id for s in list(tree.lineage(origin))[1:])
    deepest = [s for s in origins if s.span_id not in explained] or origins
    heeded = [s for s in deepest if tree.nearest(s, attributes.TOLERATED) is None] or deepest
    return min(heeded, key=lambda s: (s.start_time_ns, -tree.depth(s))) if heeded else None


def fault_of(tree: Tree, span: Span) -> str | None:
    """The injected fault (``fault.name``) on the span or its nearest ancestor."""
    holder = tree.nearest(span, attributes.FAULT_NAME)
    return str(holder.attributes[attributes.FAULT_NAME]) if holder else None


# -- attempts -----------------------------------------------------------------------------


def attempt_span(tree: Tree, span: Span) -> Span | None:
    """The task run (span carrying ``celery.attempt``) the span belongs to."""
    return tree.nearest(span, attributes.TASK_ATTEMPT)


def task_runs(tree: Tree, task: str) -> list[Span]:
    """The runs of one task, in attempt order."""
    runs = [s for s in tree.spans if attributes.TASK_ATTEMPT in s.attributes and task_name(s) == task]
    return sorted(runs, key=attempt_number)


def attempt_error(tree: Tree, run: Span) -> Span | None:
    """Where this attempt's error started (not counting later attempts nested under it)."""
    own = [s for s in error_origins(tree) if attempt_span(tree, s) is run]
    return min(own, key=lambda s: s.start_time_ns) if own else None


# -- the root cause -----------------------------------------------------------------------


def same_failure(a: Span, b: Span) -> bool:
    same_statement = normalize_statement(statement_of(a) or "") == normalize_statement(statement_of(b) or "")
    return (a.service, a.name, error_of(a)[0]) == (b.service, b.name, error_of(b)[0]) and same_statement


def repeated_on(tree: Tree, cause: Span, attempt: int | None) -> tuple[int, ...]:
    """The later attempts whose error started the same way as the root cause's."""
    later = set()
    for span in error_origins(tree):
        run = attempt_span(tree, span)
        if span is not cause and run and same_failure(span, cause):
            later.add(attempt_number(run))
    return tuple(sorted(n for n in later if attempt is None or n > attempt))


def root_cause(tree: Tree) -> RootCause | None:
    span = first_error(tree)
    if span is None:
        return None
    run = attempt_span(tree, span)
    attempt = attempt_number(run) if run else None
    task = task_name(run) if run else None
    kind, message = error_of(span)
    return RootCause(
        span_id=span.span_id,
        service=span.service,
        name=span.name,
        label=label(span),
        statement=statement_of(span),
        exception_type=kind,
        exception_message=message,
        attempt=attempt,
        task=task,
        attempts=attempt_number(task_runs(tree, task)[-1]) if task else None,
        fault=fault_of(tree, span),
        repeated_on=repeated_on(tree, span, attempt),
        stack=application_stack(tree, span),
    )


def reached(tree: Tree, span: Span) -> list[Span]:
    """The spans the error reached: the span and its ancestors up to the first that ended
    without error (a publish, a request that answered: the error stopped there)."""
    path = []
    for ancestor in tree.lineage(span):
        if ancestor.status != "ERROR":
            break
        path.append(ancestor)
    return path


def stacktrace_of(span: Span) -> str:
    exception = exception_event(span) or {}
    return str(exception.get("exception.stacktrace") or "")


def application_stack(tree: Tree, span: Span) -> tuple[str, ...]:
    """The folded stack trace of the first span on the error's path whose recorded stack
    reaches application code (``telemetry.diagnosis.stack``), else of the span itself."""
    traces = [stacktrace_of(s) for s in reached(tree, span)]
    chosen = next((t for t in traces if t and has_application_frames(t)), stacktrace_of(span))
    return folded_lines(chosen) if chosen else ()
