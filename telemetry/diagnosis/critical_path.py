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
from typing import Protocol


class SpanLike(Protocol):
    span_id: str
    parent_span_id: str
    start_time_ns: int
    end_time_ns: int


def critical_path(spans: Iterable[SpanLike]) -> set[str]:
    """The span ids on the critical path; several roots (a partial trace) share one."""
    spans = list(spans)
    ids = {span.span_id for span in spans}
    children: dict[str, list[SpanLike]] = {}
    roots: list[SpanLike] = []
    for span in spans:
        if span.parent_span_id and span.parent_span_id in ids and span.parent_span_id != span.span_id:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    reach = _reach(roots, children)
    path: set[str] = set()
    # (siblings, barrier): find the sibling that reached furthest before the barrier. The
    # walk only collects a set, so the frames can be taken in any order (no recursion).
    frames: list[tuple[list[SpanLike], int]] = [(roots, max(reach.values(), default=0) + 1)]
    while frames:
        kids, barrier = frames.pop()
        started = [kid for kid in kids if kid.start_time_ns < barrier]
        if not started:
            continue
        last = max(started, key=lambda kid: (min(reach[kid.span_id], barrier), kid.start_time_ns))
        path.add(last.span_id)
        frames.append((children.get(last.span_id, []), min(reach[last.span_id], barrier) + 1))
        frames.append((kids, last.start_time_ns))
    return path


def _reach(roots: list[SpanLike], children: dict[str, list[SpanLike]]) -> dict[str, int]:
    """Each span's reach: the latest end in its subtree (iterative: deep traces are fine)."""
    reach: dict[str, int] = {}
    stack: list[tuple[SpanLike, bool]] = [(root, False) for root in roots]
    while stack:
        span, expanded = stack.pop()
        kids = children.get(span.span_id, [])
        if expanded:
            reach[span.span_id] = max([span.end_time_ns, *(reach[kid.span_id] for kid in kids)])
        else:
            stack.append((span, True))
            stack.extend((kid, False) for kid in kids)
    return reach
