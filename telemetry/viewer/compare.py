"""Two traces side by side: their operations matched by (service, span name), with the
count, total duration and errors of each, and what differs between them.

Pure functions over ``Span`` rows; no database access.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.models import Span

# A total duration counts as changed when one side is this many times the other and the
# gap is at least this many milliseconds (sub-millisecond noise is not a difference).
SLOWER_RATIO = 2.0
SLOWER_MIN_MS = 20.0
CHANGE_LABELS = {
    "only_a": "only in A",
    "only_b": "only in B",
    "count": "count",
    "errors": "errors",
    "duration": "duration",
}


@dataclass(frozen=True)
class OperationStats:
    count: int
    total_ns: int
    errors: int

    @property
    def total_ms(self) -> float:
        return self.total_ns / 1e6


@dataclass(frozen=True)
class OperationDiff:
    service: str
    name: str
    a: OperationStats | None
    b: OperationStats | None
    first_offset_ns: int  # when the operation first ran, from its trace's start

    @property
    def changes(self) -> tuple[str, ...]:
        """What differs: ``only_a``, ``only_b``, ``count``, ``errors``, ``duration``."""
        if self.b is None:
            return ("only_a",)
        if self.a is None:
            return ("only_b",)
        found = []
        if self.a.count != self.b.count:
            found.append("count")
        if self.a.errors != self.b.errors:
            found.append("errors")
        low, high = sorted((self.a.total_ms, self.b.total_ms))
        if high - low >= SLOWER_MIN_MS and high >= SLOWER_RATIO * low:
            found.append("duration")
        return tuple(found)

    @property
    def change_labels(self) -> list[str]:
        return [CHANGE_LABELS[change] for change in self.changes]

    @property
    def sides(self) -> tuple[OperationStats | None, OperationStats | None]:
        return (self.a, self.b)

    @property
    def delta_ms(self) -> float:
        return (self.b.total_ms if self.b else 0.0) - (self.a.total_ms if self.a else 0.0)


def operation_stats(spans: list[Span]) -> dict[tuple[str, str], tuple[OperationStats, int]]:
    """Per (service, name): the stats and the first start offset in the trace."""
    if not spans:
        return {}
    start = min(span.start_time_ns for span in spans)
    grouped: dict[tuple[str, str], list[Span]] = {}
    for span in spans:
        grouped.setdefault((span.service, span.name), []).append(span)
    return {
        key: (
            OperationStats(
                count=len(group),
                total_ns=sum(span.duration_ns for span in group),
                errors=sum(span.status == "ERROR" for span in group),
            ),
            min(span.start_time_ns for span in group) - start,
        )
        for key, group in grouped.items()
    }


def compare_traces(a: list[Span], b: list[Span]) -> list[OperationDiff]:
    """Every operation of either trace, in the order it first ran (the earlier of the two)."""
    stats_a, stats_b = operation_stats(a), operation_stats(b)
    diffs = []
    for key in stats_a.keys() | stats_b.keys():
        in_a, in_b = stats_a.get(key), stats_b.get(key)
        offsets = [found[1] for found in (in_a, in_b) if found]
        diffs.append(
            OperationDiff(
                service=key[0],
                name=key[1],
                a=in_a[0] if in_a else None,
                b=in_b[0] if in_b else None,
                first_offset_ns=min(offsets),
            )
        )
    return sorted(diffs, key=lambda diff: (diff.first_offset_ns, diff.service, diff.name))
