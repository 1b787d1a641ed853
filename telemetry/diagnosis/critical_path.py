"""The critical path of a trace: the chain of spans that decided when the trace ended.

Walked backwards from the end, as Jaeger does: a span's last-finishing child is on the
path, then the child that finished last before that one started, and so on, each child
walked the same way. A child may outlive its parent (a Celery task published by a
request that has already answered), so a span's reach is the end of its whole subtree,
not its own end: the worker's retries and the compensation stay on the path of the
checkout that started them.
"""

from __future__ import annotations

from collections.abc import Iterable

from telemetry.tree import S, SpanTree


def critical_path(spans: Iterable[S] | SpanTree[S]) -> set[str]:
    """The span ids on the critical path; several roots (a partial trace) share one.
    Takes the trace's spans (any rows with ids, parent id, start and end) or its tree."""
    tree = spans if isinstance(spans, SpanTree) else SpanTree(spans)
    reach = _reach(tree)
    path: set[str] = set()
    # (siblings, barrier): find the sibling that reached furthest before the barrier. The
    # walk only collects a set, so the frames can be taken in any order (no recursion).
    frames: list[tuple[list[S], int]] = [(tree.roots, max(reach.values(), default=0) + 1)]
    while frames:
        kids, barrier = frames.pop()
        started = [kid for kid in kids if kid.start_time_ns < barrier]
        if not started:
            continue
        last = max(started, key=lambda kid: (min(reach[kid.span_id], barrier), kid.start_time_ns))
        path.add(last.span_id)
        frames.append((tree.children(last), min(reach[last.span_id], barrier) + 1))
        frames.append((kids, last.start_time_ns))
    return path


def _reach(tree: SpanTree[S]) -> dict[str, int]:
    """Each span's reach: the latest end in its subtree. The depth-first walk lists every
    span before its subtree, so taken backwards each child is done before its parent."""
    reach: dict[str, int] = {}
    for _, span in reversed(list(tree.walk())):
        reach[span.span_id] = max([span.end_time_ns, *(reach[kid.span_id] for kid in tree.children(span))])
    return reach
