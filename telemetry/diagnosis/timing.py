"""Where a trace's time went: each span's self time, summed by service, and the bottleneck
(definitions in ``telemetry.diagnosis.analysis``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from telemetry.diagnosis.model import ServiceTime
from telemetry.models import Span
from telemetry.tree import SpanTree

BOTTLENECK_SHARE = 0.5


def union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """Length covered by the intervals, overlaps counted once."""
    covered, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            covered, reach = covered + end - start, end
        elif end > reach:
            covered, reach = covered + end - reach, end
    return covered


def self_time_ns(span: Span, children: Iterable[Span]) -> int:
    """The span's duration not covered by its children (each clipped to the span)."""
    clipped = [
        (max(c.start_time_ns, span.start_time_ns), min(c.end_time_ns, span.end_time_ns)) for c in children
    ]
    duration = span.end_time_ns - span.start_time_ns
    return max(0, duration - union_ns((s, e) for s, e in clipped if e > s))


def self_times(tree: SpanTree[Span]) -> dict[str, int]:
    """Every span's self time by span id, computed once per tree."""
    if "self_times" not in tree.memo:
        tree.memo["self_times"] = {s.span_id: self_time_ns(s, tree.children(s)) for s in tree.spans}
    return tree.memo["self_times"]


def service_times(tree: SpanTree[Span]) -> tuple[ServiceTime, ...]:
    """Self time by service, largest share first."""
    totals: Counter[str] = Counter()
    own = self_times(tree)
    for span in tree.spans:
        totals[span.service] += own[span.span_id]
    overall = sum(totals.values()) or 1
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ServiceTime(service, ns, ns / overall) for service, ns in ranked)


def bottleneck(services: Iterable[ServiceTime]) -> str | None:
    return next((s.service for s in services if s.share > BOTTLENECK_SHARE), None)


def wall_ns(spans: list[Span]) -> int:
    return max(s.end_time_ns for s in spans) - min(s.start_time_ns for s in spans) if spans else 0
