"""Reads for the trace viewer: trace search, trace summaries, a trace's log records.

Plain functions over the span store; every query runs inside ``store.untraced()`` so the
viewer never traces its own reads. A trace is the group of spans sharing a ``trace_id``:
its start is its earliest span's start, its duration runs to its latest span's end.
Works the same on SQLite and PostgreSQL (JSON key lookups, no raw SQL).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, Min, Q, QuerySet

from telemetry.models import LogRecord, Span
from telemetry.store import untraced

SORTS = {
    "newest": ("-start", "trace_id"),
    "slowest": ("-duration", "-start", "trace_id"),
    "spans": ("-span_count", "-start", "trace_id"),
}
NS_PER_MS = 1_000_000
INTEGER = re.compile(r"-?\d+")
DECIMAL = re.compile(r"-?\d+\.\d+")


@dataclass(frozen=True)
class TraceQuery:
    """What to search for; every criterion is optional and they all must hold."""

    service: str = ""  # a span of this service
    operation: str = ""  # a span whose name contains this (of ``service`` when given)
    errors_only: bool = False
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    start_from_ns: int | None = None  # the trace started at or after this
    start_to_ns: int | None = None  # ... and at or before this
    attributes: tuple[tuple[str, str], ...] = ()  # (key, value): a span has attribute key = value
    sort: str = "newest"


@dataclass(frozen=True)
class TraceSummary:
    """One row of the search results."""

    trace_id: str
    root_name: str
    services: tuple[str, ...]
    span_count: int
    error_count: int
    start_ns: int
    duration_ns: int
    order_ids: tuple[str, ...] = field(default=())

    @property
    def duration_ms(self) -> float:
        return self.duration_ns / NS_PER_MS

    @property
    def started_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start_ns / 1e9, tz=dt.UTC)


def attribute_match(key: str, value: str) -> Q:
    """Spans whose attribute ``key`` equals ``value`` as a string, or as the number or
    boolean it spells (``http.status_code=500`` is stored as a number)."""
    lookup = f"attributes__{key}"
    condition = Q(**{lookup: value})
    for typed in _typed_values(value):
        condition |= Q(**{lookup: typed})
    return condition


def _typed_values(value: str) -> list[object]:
    if value in {"true", "false"}:
        return [value == "true"]
    if INTEGER.fullmatch(value):
        return [int(value)]
    if DECIMAL.fullmatch(value):
        return [float(value)]
    return []


def _span_conditions(query: TraceQuery) -> list[Q]:
    """One condition per criterion that a single span of the trace must meet."""
    conditions = []
    if query.service and query.operation:
        conditions.append(Q(service=query.service, name__icontains=query.operation))
    elif query.service:
        conditions.append(Q(service=query.service))
    elif query.operation:
        conditions.append(Q(name__icontains=query.operation))
    conditions += [attribute_match(key, value) for key, value in query.attributes]
    if query.start_from_ns is not None:  # narrows by index before the grouping below
        conditions.append(Q(start_time_ns__gte=query.start_from_ns))
    return conditions


def trace_search(query: TraceQuery) -> QuerySet:
    """Matching traces as dicts (``trace_id``, ``start``, ``end``, ``duration``,
    ``span_count``, ``error_count``), sorted; lazy, so evaluate it inside ``untraced()``."""
    spans = Span.objects.all()
    for condition in _span_conditions(query):
        spans = spans.filter(trace_id__in=Span.objects.filter(condition).values("trace_id"))
    traces = (
        spans.values("trace_id")
        .annotate(
            start=Min("start_time_ns"),
            end=Max("end_time_ns"),
            span_count=Count("id"),
            error_count=Count("id", filter=Q(status="ERROR")),
        )
        .annotate(duration=F("end") - F("start"))
    )
    if query.errors_only:
        traces = traces.filter(error_count__gt=0)
    if query.min_duration_ms is not None:
        traces = traces.filter(duration__gte=int(query.min_duration_ms * NS_PER_MS))
    if query.max_duration_ms is not None:
        traces = traces.filter(duration__lte=int(query.max_duration_ms * NS_PER_MS))
    if query.start_from_ns is not None:
        traces = traces.filter(start__gte=query.start_from_ns)
    if query.start_to_ns is not None:
        traces = traces.filter(start__lte=query.start_to_ns)
    return traces.order_by(*SORTS.get(query.sort, SORTS["newest"]))


def trace_search_page(query: TraceQuery, page_number: int | str | None, per_page: int = 25) -> Page:
    """One page of ``trace_search``, its rows turned into ``TraceSummary``."""
    with untraced():
        page = Paginator(trace_search(query), per_page).get_page(page_number)
        page.object_list = trace_summaries(list(page.object_list))
    return page


def trace_summaries(rows: list[dict]) -> list[TraceSummary]:
    """Adds each trace's root operation, services and orders (three queries per page)."""
    ids = [row["trace_id"] for row in rows]
    with untraced():
        roots = _root_names(ids)
        services: dict[str, set[str]] = defaultdict(set)
        for trace_id, service in Span.objects.filter(trace_id__in=ids).values_list("trace_id", "service"):
            services[trace_id].add(service)
        orders: dict[str, set[str]] = defaultdict(set)
        for trace_id, order_id in (
            Span.objects.filter(trace_id__in=ids).exclude(order_id="").values_list("trace_id", "order_id")
        ):
            orders[trace_id].add(order_id)
    return [
        TraceSummary(
            trace_id=row["trace_id"],
            root_name=roots.get(row["trace_id"], ""),
            services=tuple(sorted(services[row["trace_id"]])),
            span_count=row["span_count"],
            error_count=row["error_count"],
            start_ns=row["start"],
            duration_ns=row["duration"],
            order_ids=tuple(sorted(orders[row["trace_id"]])),
        )
        for row in rows
    ]


def _root_names(trace_ids: list[str]) -> dict[str, str]:
    """The name of each trace's earliest root span, or of its earliest span when the root
    is missing (a trace still arriving, or cut off)."""
    names: dict[str, str] = {}
    roots = Span.objects.filter(trace_id__in=trace_ids, parent_span_id="").order_by("start_time_ns")
    for trace_id, name in roots.values_list("trace_id", "name"):
        names.setdefault(trace_id, name)
    missing = [trace_id for trace_id in trace_ids if trace_id not in names]
    if missing:
        earliest = Span.objects.filter(trace_id__in=missing).order_by("start_time_ns")
        for trace_id, name in earliest.values_list("trace_id", "name"):
            names.setdefault(trace_id, name)
    return names


def service_names() -> list[str]:
    with untraced():
        return list(Span.objects.order_by("service").values_list("service", flat=True).distinct())


def operation_names(limit: int = 500) -> list[str]:
    with untraced():
        names = Span.objects.order_by("name").values_list("name", flat=True).distinct()
        return list(names[:limit])


def trace_logs(trace_id: str) -> list[LogRecord]:
    """The log records written inside the trace's spans, oldest first."""
    with untraced():
        return list(LogRecord.objects.filter(trace_id=trace_id).order_by("time_ns", "id"))


def trace_order_ids(spans: list[Span]) -> list[str]:
    """The orders a trace belongs to: the ``order_id`` column of its spans."""
    return sorted({span.order_id for span in spans if span.order_id})


def similar_traces(root_name: str, exclude: str, limit: int = 20) -> list[TraceSummary]:
    """Recent other traces with the same root operation: candidates to compare with."""
    with untraced():
        ids = list(
            Span.objects.filter(parent_span_id="", name=root_name)
            .exclude(trace_id=exclude)
            .order_by("-start_time_ns")
            .values_list("trace_id", flat=True)[: limit * 2]
        )
        ids = list(dict.fromkeys(ids))[:limit]
        rows = list(trace_search(TraceQuery()).filter(trace_id__in=ids))
    return trace_summaries(rows)
