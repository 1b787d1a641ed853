"""Service-level numbers over a trailing window: which service calls which (edges from a
caller's call to the callee's request or task run) and, per service and operation, rate,
errors and latency percentiles with a time series.

The dashboard pages and alert evaluation both read these functions, so an alert fires on
the numbers the metrics page shows. The rows come from ``telemetry.selectors`` (untraced).
Requests and task runs (server and consumer spans) are counted from the metric rows
(``SpanMetric``), one per request and task run whether its trace was sampled or not, so
sampling never changes a figure; other kinds, on request, from the stored spans. An
example trace is always a sampled one. Percentiles are nearest-rank, computed in Python
from the durations of the window's rows: exact, not bucketed. The reads are answered from
covering indexes (kind, start time and the columns read), so a day of a million requests
costs an index range scan, not a million table rows. A window holding more than
``MAX_ROWS`` matching rows is computed over its newest ``MAX_ROWS``, and says so
(``partial``).
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from django.conf import settings

from config import queues
from core.stats import nearest_rank, percentile
from telemetry import selectors

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
# The most spans read for one computation (the newest, past it), so "all" stays bounded too.
MAX_ROWS = 200_000
EXAMPLES = 3
# Columns of the rows read here; the first two name the group (caller and callee, or
# service and operation).
DURATION, STATUS, START, TRACE = 2, 3, 4, 5
KIND = 6  # of an edge row: the callee's span kind
# How a call travelled: a REST request (the callee's SERVER span) or a task through a queue
# (its CONSUMER span, the worker's run).
HTTP, QUEUE = "http", "queue"


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
    partial: bool = False  # over the window's newest MAX_ROWS spans only, not all of them

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    stats: Stats  # of the child spans (the callee's side of the call)
    via: str = HTTP  # HTTP or QUEUE
    queue: str = ""  # the queue the tasks travel on, when via QUEUE

    @property
    def by_queue(self) -> bool:
        return self.via == QUEUE


@dataclass(frozen=True)
class Bucket:
    start_ns: int
    calls: int
    p95_ms: float | None
    errors: int = 0


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


def _ms(duration_ns: int | float | None) -> float | None:
    return None if duration_ns is None else duration_ns / NS_PER_MS


def summarise(rows: list[tuple], *, partial: bool = False) -> Stats:
    """Stats of rows read by this module: ``(caller or service, service or operation,
    duration_ns, status, start_time_ns, trace_id)``."""
    durations = sorted(row[DURATION] for row in rows)
    failed = [row for row in rows if row[STATUS] == "ERROR"]
    return Stats(
        calls=len(rows),
        errors=len(failed),
        p50_ms=_ms(nearest_rank(durations, 50)),
        p95_ms=_ms(nearest_rank(durations, 95)),
        p99_ms=_ms(nearest_rank(durations, 99)),
        slowest_trace_ids=_top_traces(rows, key=itemgetter(DURATION)),
        failed_trace_ids=_top_traces(failed, key=itemgetter(START)),
        partial=partial,
    )


def _top_traces(rows: list[tuple], *, key, limit: int = EXAMPLES) -> tuple[str, ...]:
    """The trace ids of the ``limit`` distinct traces with the highest ``key`` (slowest,
    newest). A partial sort: one trace can hold many of the top rows, so widen until
    enough distinct ones are found or every row was looked at. A row of an unsampled
    trace (blank id) is no example: there is no trace to show."""
    rows = [row for row in rows if row[TRACE]]
    wanted = limit
    while True:
        found: list[str] = []
        top = heapq.nlargest(wanted, rows, key=key)
        for row in top:
            if row[TRACE] not in found:
                found.append(row[TRACE])
                if len(found) == limit:
                    return tuple(found)
        if len(top) == len(rows):
            return tuple(found)
        wanted *= 4


def service_edges(win: Window) -> list[Edge]:
    """A→B for every request or task run of service B in the window whose parent (the HTTP
    call or task publish that made it) is of service A, sampled or not; one edge per way the
    calls travelled (REST or a queue), since B's task runs and requests are different calls."""
    rows, complete = selectors.edge_rows(
        start_ns=win.start_ns, end_ns=win.end_ns, kinds=DEFAULT_KINDS, max_rows=MAX_ROWS
    )
    groups: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
    for row in rows:
        groups[row[0], row[1], QUEUE if row[KIND] == "CONSUMER" else HTTP].append(row)
    return [
        Edge(
            source,
            target,
            summarise(group, partial=not complete),
            via=via,
            queue=queue_of(target) if via == QUEUE else "",
        )
        for (source, target, via), group in sorted(groups.items())
    ]


def queue_of(worker_service: str) -> str:
    """The queue a worker service's tasks come from in this copy (``threadline.payments`` for
    ``payments-worker``): its app's own queue, or the copy's default queue for a worker
    without one (config/queues.py)."""
    prefix = settings.CELERY_TASK_DEFAULT_QUEUE
    for task_prefix, service in settings.TELEMETRY_WORKER_SERVICE_BY_TASK.items():
        if service == worker_service:
            return queues.app_queue(prefix, task_prefix.rstrip("."))
    return prefix


def _operation_rows(
    win: Window, *, kinds: Sequence[str], service: str | None = None, operation: str | None = None
) -> tuple[list[tuple], bool]:
    return selectors.operation_rows(
        start_ns=win.start_ns,
        end_ns=win.end_ns,
        kinds=kinds,
        service=service,
        operation=operation,
        max_rows=MAX_ROWS,  # read at call time: tests lower it
    )


def summary(
    win: Window, *, service: str, operation: str | None = None, kinds: Sequence[str] = DEFAULT_KINDS
) -> Stats:
    """One service's numbers (one operation's, or all of them together)."""
    rows, complete = _operation_rows(win, kinds=kinds, service=service, operation=operation)
    return summarise(rows, partial=not complete)


def operation_metrics(
    win: Window, *, kinds: Sequence[str] = DEFAULT_KINDS, service: str | None = None
) -> list[OperationMetrics]:
    """Rate, errors, latency and a time series per (service, span name), sorted by both."""
    rows, complete = _operation_rows(win, kinds=kinds, service=service)
    if not rows:
        return []
    origin_ns = win.start_ns if win.start_ns is not None else min(row[START] for row in rows)
    span_ns = max(win.end_ns - origin_ns, NS_PER_S)
    return [
        OperationMetrics(
            service=service_name,
            operation=name,
            stats=summarise(group, partial=not complete),
            rate_per_s=len(group) * NS_PER_S / span_ns,
            buckets=_buckets(group, origin_ns, span_ns),
        )
        for (service_name, name), group in _grouped(rows)
    ]


def _grouped(rows: list[tuple]) -> list[tuple[tuple[str, str], list[tuple]]]:
    """Rows grouped by their first two columns, groups in order."""
    groups: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for row in rows:
        groups[row[0], row[1]].append(row)
    return sorted(groups.items())


def _buckets(rows: list[tuple], origin_ns: int, span_ns: int) -> tuple[Bucket, ...]:
    durations: list[list[int]] = [[] for _ in range(BUCKETS)]
    errors = [0] * BUCKETS
    last = BUCKETS - 1
    for row in rows:
        index = (row[START] - origin_ns) * BUCKETS // span_ns
        index = index if 0 <= index <= last else (0 if index < 0 else last)
        durations[index].append(row[DURATION])
        errors[index] += row[STATUS] == "ERROR"
    return tuple(
        Bucket(
            origin_ns + index * span_ns // BUCKETS, len(values), _ms(percentile(values, 95)), errors[index]
        )
        for index, values in enumerate(durations)
    )
