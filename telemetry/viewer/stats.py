"""The trace page's statistics: spans, errors and self time per service, and count, errors,
total and self time per operation (a service's span name). Pure functions over ``Span``.

Self time is a span's duration minus what its children cover (overlaps counted once), as
the diagnosis defines it (``telemetry.diagnosis.timing``), so the two panels agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.diagnosis.timing import self_times
from telemetry.models import Span
from telemetry.tree import SpanTree
from telemetry.viewer.waterfall import service_colour

# The operations table lists this many, most self time first; the rest are counted.
MAX_OPERATIONS = 100


@dataclass
class Totals:
    """What one service or one operation adds up to."""

    service: str
    name: str = ""  # the span name, for an operation
    count: int = 0
    errors: int = 0
    total_ns: int = 0
    self_ns: int = 0
    share: float = 0.0  # of the trace's summed self time

    @property
    def colour(self) -> str:
        return service_colour(self.service)

    @property
    def total_ms(self) -> float:
        return self.total_ns / 1e6

    @property
    def self_ms(self) -> float:
        return self.self_ns / 1e6


@dataclass
class TraceStats:
    services: list[Totals]  # most self time first
    operations: list[Totals]  # most self time first, at most ``MAX_OPERATIONS``
    operation_count: int  # every operation, listed or not


def trace_stats(spans: list[Span] | SpanTree[Span]) -> TraceStats:
    """Takes the trace's spans or its tree (shared with the diagnosis: self times once)."""
    tree = spans if isinstance(spans, SpanTree) else SpanTree(spans)
    self_ns = self_times(tree)
    services: dict[str, Totals] = {}
    operations: dict[tuple[str, str], Totals] = {}
    for span in tree.spans:
        own = self_ns[span.span_id]
        for totals in (
            services.setdefault(span.service, Totals(span.service)),
            operations.setdefault((span.service, span.name), Totals(span.service, span.name)),
        ):
            totals.count += 1
            totals.errors += span.status == "ERROR"
            totals.total_ns += span.duration_ns
            totals.self_ns += own
    overall = sum(totals.self_ns for totals in services.values()) or 1
    for totals in (*services.values(), *operations.values()):
        totals.share = totals.self_ns / overall

    def ranked(values: list[Totals]) -> list[Totals]:
        return sorted(values, key=lambda t: (-t.self_ns, t.service, t.name))

    return TraceStats(
        services=ranked(list(services.values())),
        operations=ranked(list(operations.values()))[:MAX_OPERATIONS],
        operation_count=len(operations),
    )
