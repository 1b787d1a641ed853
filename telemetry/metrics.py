"""Service-level numbers read from the span store over a trailing window: which service
calls which (edges between parent and child spans of different services) and, per
service and operation, rate, errors and latency percentiles with a time series.

The dashboard pages and alert evaluation both read these functions, so an alert fires on
the numbers the metrics page shows. Reads are untraced. Percentiles are nearest-rank,
computed in Python from the durations of the window's spans (fine at this scale); every
read is bounded by the window on ``start_time_ns`` (indexed) and by ``MAX_ROWS``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import F, OuterRef, QuerySet, Subquery

from telemetry.models import Span
from telemetry.store import untraced

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
# key → (label, seconds); None = everything stored.
WINDOWS: dict[str, tuple[str, int | None]] = {
    "15m": ("15 min", 15 * 60),
    "1h": ("1 h", 60 * 60),
    "24h": ("24 h", 24 * 60 * 60),
    "all": ("all", None),
}
DEFAULT_WINDOW = "1h"
SPAN_KINDS = ("SERVER", "CONSUMER", "CLIENT", "PRODUCER", "INTERNAL")
# Requests and task runs: what a service is asked to do, not how it does it.
DEFAULT_KINDS = ("SERVER", "CONSUMER")
BUCKETS = 24
# The newest spans read for one computation, so that "all" stays bounded too.
MAX_ROWS = 200_000
EXAMPLES = 3


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    start_ns: int | None  # None: from the first stored span
    end_ns: int


@dataclass(frozen=True)
class Stats:
    calls: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    slowest_trace_ids: tuple[str, ...]  # slowest first
    failed_trace_ids: tuple[str, ...]  # most recent first

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    stats: Stats  # of the child spans (the callee's side of the call)


@dataclass(frozen=True)
class Bucket:
    start_ns: int
    calls: int
    p95_ms: float | None


@dataclass(frozen=True)
class OperationMetrics:
    service: str
    operation: str
    stats: Stats
    rate_per_s: float
    buckets: tuple[Bucket, ...]


def window(key: str, *, now_ns: int | None = None) -> Window:
    """The window named ``key`` (an unknown key gives the default), ending now."""
    key = key if key in WINDOWS else DEFAULT_WINDOW
    label, seconds = WINDOWS[key]
    end_ns = now_ns if now_ns is not None else time.time_ns()
    return Window(key, label, end_ns - seconds * NS_PER_S if seconds else None, end_ns)


def trailing_window(seconds: float, *, now_ns: int | None = None) -> Window:
    """A window of the last ``seconds`` (an alert rule's)."""
    end_ns = now_ns if now_ns is not None else time.time_ns()
    return Window("custom", f"{seconds:g} s", end_ns - int(seconds * NS_PER_S), end_ns)


def percentile(values: Sequence[int | float], percent: int) -> int | float | None:
    """Nearest rank: the smallest value with at least ``percent`` % of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))  # ceil without floating point
    return ordered[rank - 1]


def _ms(duration_ns: int | float | None) -> float | None:
    return None if duration_ns is None else duration_ns / NS_PER_MS


def summarise(rows: Iterable[tuple[int, str, int, str]]) -> Stats:
    """Stats of ``(duration_ns, status, start_time_ns, trace_id)`` rows."""
    rows = list(rows)
    durations = [row[0] for row in rows]
    failed = sorted((row for row in rows if row[1] == "ERROR"), key=lambda row: -row[2])
    slowest = sorted(rows, key=lambda row: -row[0])
    return Stats(
        calls=len(rows),
        errors=len(failed),
        p50_ms=_ms(percentile(durations, 50)),
        p95_ms=_ms(percentile(durations, 95)),
        p99_ms=_ms(percentile(durations, 99)),
        slowest_trace_ids=_distinct(row[3] for row in slowest),
        failed_trace_ids=_distinct(row[3] for row in failed),
    )


def _distinct(trace_ids: Iterable[str], limit: int = EXAMPLES) -> tuple[str, ...]:
    found: list[str] = []
    for trace_id in trace_ids:
        if trace_id not in found:
            found.append(trace_id)
            if len(found) == limit:
                break
    return tuple(found)


def _in_window(spans: QuerySet, win: Window) -> QuerySet:
    spans = spans.filter(start_time_ns__lte=win.end_ns)
    if win.start_ns is not None:
        spans = spans.filter(start_time_ns__gte=win.start_ns)
    return spans.order_by("-start_time_ns")


def service_edges(win: Window) -> list[Edge]:
    """A→B for every child span of service B in the window whose parent is of service A.

    Only server and consumer spans are looked at: a call reaches another service as a
    request or a task run, and their parent lookups are a small share of the window's spans.
    """
    parent_service = Span.objects.filter(
        trace_id=OuterRef("trace_id"), span_id=OuterRef("parent_span_id")
    ).values("service")[:1]
    query = (
        _in_window(Span.objects.filter(kind__in=DEFAULT_KINDS).exclude(parent_span_id=""), win)
        .annotate(parent_service=Subquery(parent_service))
        .filter(parent_service__isnull=False)
        .exclude(parent_service=F("service"))
        .values_list("parent_service", "service", "duration_ns", "status", "start_time_ns", "trace_id")
    )
    with untraced():
        rows = list(query[:MAX_ROWS])
    grouped: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for source, target, *rest in rows:
        grouped[(source, target)].append(tuple(rest))
    return [Edge(source, target, summarise(group)) for (source, target), group in sorted(grouped.items())]


def _operation_rows(
    win: Window, *, kinds: Sequence[str], service: str | None = None, operation: str | None = None
) -> list[tuple]:
    spans = Span.objects.filter(kind__in=list(kinds))
    if service:
        spans = spans.filter(service=service)  # the (service, start_time_ns) index
    if operation:
        spans = spans.filter(name=operation)
    query = _in_window(spans, win).values_list(
        "service", "name", "duration_ns", "status", "start_time_ns", "trace_id"
    )
    with untraced():
        return list(query[:MAX_ROWS])


def summary(
    win: Window, *, service: str, operation: str | None = None, kinds: Sequence[str] = DEFAULT_KINDS
) -> Stats:
    """One service's numbers (one operation's, or all of them together)."""
    rows = _operation_rows(win, kinds=kinds, service=service, operation=operation)
    return summarise(row[2:] for row in rows)


def operation_metrics(
    win: Window, *, kinds: Sequence[str] = DEFAULT_KINDS, service: str | None = None
) -> list[OperationMetrics]:
    """Rate, errors, latency and a time series per (service, span name), sorted by both."""
    rows = _operation_rows(win, kinds=kinds, service=service)
    if not rows:
        return []
    origin_ns = win.start_ns if win.start_ns is not None else min(row[4] for row in rows)
    span_ns = max(win.end_ns - origin_ns, NS_PER_S)
    grouped: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for service_name, name, *rest in rows:
        grouped[(service_name, name)].append(tuple(rest))
    return [
        OperationMetrics(
            service=service_name,
            operation=name,
            stats=summarise(group),
            rate_per_s=len(group) * NS_PER_S / span_ns,
            buckets=_buckets(group, origin_ns, span_ns),
        )
        for (service_name, name), group in sorted(grouped.items())
    ]


def _buckets(rows: list[tuple], origin_ns: int, span_ns: int) -> tuple[Bucket, ...]:
    durations: list[list[int]] = [[] for _ in range(BUCKETS)]
    for duration_ns, _status, start_ns, _trace_id in rows:
        index = min(BUCKETS - 1, max(0, (start_ns - origin_ns) * BUCKETS // span_ns))
        durations[index].append(duration_ns)
    return tuple(
        Bucket(origin_ns + index * span_ns // BUCKETS, len(values), _ms(percentile(values, 95)))
        for index, values in enumerate(durations)
    )
