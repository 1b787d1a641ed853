"""The critical path of a trace: the chain of spans that decided when the trace ended.

Walked backwards from the end, as Jaeger does: a span's last-finishing child is on the
path, then the child that finished last before that one started, and so on, each child
walked the same way. A child may outlive its parent (a Celery task published by a
request that has already answered), so a span's reach is the end of its whole subtree,
not its own end: the worker's retries and the compensation stay on the path of the
checkout that started them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

from telemetry.tree import S, SpanTree


def critical_path(spans: Iterable[S] | SpanTree[S]) -> set[str]:
    """The span ids on the critical path; several roots (a partial trace) share one.
    Takes the trace's spans (any rows with ids, parent id, start and end) or its tree."""
    tree = spans if isinstance(spans, SpanTree) else SpanTree(spans)
    reach = _reach(tree)
    path: set[str] = set()
    # (siblings, barrier): walk back through the siblings from the barrier. The walk only
    # collects a set, so the sibling groups can be taken in any order (no recursion).
    frames: list[tuple[list[S], int]] = [(tree.roots, max(reach.values(), default=0) + 1)]
    while frames:
        kids, barrier = frames.pop()
        for last, kid_barrier in _walk_back(kids, barrier, reach):
            path.add(last.span_id)
            frames.append((tree.children(last), kid_barrier))
    return path


def _walk_back(kids: list[S], barrier: int, reach: dict[str, int]) -> Iterator[tuple[S, int]]:
    """The siblings on the path, latest first, each with the barrier for its children.

    At each step the sibling chosen is the one that started before the barrier and reached
    furthest before it (``min(reach, barrier)``), the later start winning a tie, then the
    first given; the next barrier is its start. Rescanning every sibling at each step
    would be quadratic in the siblings (a span with 20,000 children), so they are sorted
    once by start, and as the barrier only moves back, the candidates are always a prefix
    of that order:

    - a candidate that reaches the barrier ties at ``barrier`` with every other such one,
      so the latest start among them wins: the last such position in the prefix, found
      by stepping back from the prefix's end (what is stepped over starts after the
      chosen one, so it leaves the prefix for good: linear over the whole walk);
    - otherwise the best (reach, start) in the prefix wins: a running maximum over the
      sorted order, computed once.
    """
    # By start, then the first given last among equal starts, so that "the last position"
    # is the first given, as ``max`` over the given order would choose.
    order = sorted(range(len(kids)), key=lambda i: (kids[i].start_time_ns, -i))
    starts = [kids[i].start_time_ns for i in order]
    reaches = [reach[kids[i].span_id] for i in order]
    # best[p]: the position of the greatest (reach, start, first given) among positions < p.
    best: list[int] = [-1]
    for position, i in enumerate(order):
        top = best[-1]
        if top < 0 or (reaches[position], starts[position], -i) > (reaches[top], starts[top], -order[top]):
            top = position
        best.append(top)
    prefix = bisect_left(starts, barrier)
    while prefix:
        top = best[prefix]
        if reaches[top] >= barrier:
            chosen = prefix - 1
            while reaches[chosen] < barrier:
                chosen -= 1
        else:
            chosen = top
        yield kids[order[chosen]], min(reaches[chosen], barrier) + 1
        barrier = starts[chosen]
        prefix = bisect_left(starts, barrier, 0, chosen)


def _reach(tree: SpanTree[S]) -> dict[str, int]:
    """Each span's reach: the latest end in its subtree. The depth-first walk lists every
    span before its subtree, so taken backwards each child is done before its parent."""
    reach: dict[str, int] = {}
    for _, span in reversed(list(tree.walk())):
        reach[span.span_id] = max([span.end_time_ns, *(reach[kid.span_id] for kid in tree.children(span))])
    return reach
