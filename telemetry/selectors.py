"""Every read of the span store: trace search, trace summaries, a trace's spans and log
records, an order's trace, the rows the dashboard's metrics are computed from, and what
sampling did (a trace's head rule and tail decision; tail retention's counts per window).

Plain functions over the span store; every query runs inside ``untraced()`` so the
viewer never traces its own reads. A trace is the group of spans sharing a ``trace_id``:
its start is its earliest span's start, its duration runs to its latest span's end.
Search reads the index (``telemetry.store.index``): the ``Trace`` summary rows, filtered by
``TraceAttribute`` entries, so its cost follows the matching traces, not the stored spans.
The dashboard's requests and task runs are read from the metric rows (``SpanMetric``: one
per request or task run, sampled or not), not from the spans sampling keeps.
Works the same on SQLite and PostgreSQL (no raw SQL).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.base import ModelState
from django.db.models.fields.json import KeyTransform

from instrumentation.attributes import ORDER_ID, SAMPLING_PROBABILITY, SAMPLING_RULE
from instrumentation.context import untraced
from telemetry.models import LogRecord, Operation, Span, SpanMetric, Trace, TraceAttribute
from telemetry.store.index import attribute_text, is_indexed, operation_value

SORTS = {
    "newest": ("-start_ns", "trace_id"),
    "slowest": ("-duration_ns", "-start_ns", "trace_id"),
    "spans": ("-span_count", "-start_ns", "trace_id"),
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
    # Leave out traces whose root span has one of these names or starts with one of these
    # prefixes (the viewer's noise filter: admin pages, status polls, beat runs).
    exclude_root_names: tuple[str, ...] = ()
    exclude_root_prefixes: tuple[str, ...] = ()


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


def spans_with_attribute(key: str, values: list[str]) -> QuerySet[Span]:
    """Spans whose attribute ``key`` equals one of ``values`` as a string, or as the number
    or boolean it spells (``http.status_code=500`` is stored as a number).

    The key is data: a JSON key transform under a fixed alias, never spliced into a lookup
    string, where ``regex`` would run the value as a regular expression over every span,
    ``a__b`` would read a nested path and ``isnull`` would raise."""
    condition = Q(pk__in=[])
    for value in values:
        for candidate in [value, *_typed_values(value)]:
            condition |= Q(searched_attribute=candidate)
    return Span.objects.alias(searched_attribute=KeyTransform(key, "attributes")).filter(condition)


def _typed_values(value: str) -> list[object]:
    if value in {"true", "false"}:
        return [value == "true"]
    if INTEGER.fullmatch(value):
        return [int(value)]
    if DECIMAL.fullmatch(value):
        return [float(value)]
    return []


def _has(key: str, values: list[str]) -> Q:
    """Traces some span of which has attribute ``key`` equal to one of ``values``."""
    if all(is_indexed(key, value) for value in values):
        entries = TraceAttribute.objects.filter(key=key, value__in=values)
        return Q(trace_id__in=entries.values("trace_id"))
    # Too long to be in the index: read the spans (slow, and rare).
    return Q(trace_id__in=spans_with_attribute(key, values).values("trace_id"))


def _operations(service: str, operation: str) -> list[str]:
    """The ``:operation`` index values of ``service``'s operations whose name contains
    ``operation`` (either may be blank: any)."""
    operations = Operation.objects.all()
    if service:
        operations = operations.filter(service=service)
    if operation:
        operations = operations.filter(name__icontains=operation)
    return sorted({operation_value(*pair) for pair in operations.values_list("service", "name")})


def _trace_conditions(query: TraceQuery) -> list[Q]:
    """One condition per criterion; each must hold for the trace (the span conditions
    may hold on different spans of it)."""
    conditions = []
    if query.operation:
        conditions.append(_has(TraceAttribute.OPERATION, _operations(query.service, query.operation)))
    elif query.service:
        conditions.append(_has(TraceAttribute.SERVICE, [query.service]))
    for key, value in query.attributes:
        values = [value] + [attribute_text(typed) for typed in _typed_values(value)]
        conditions.append(_has(key, list(dict.fromkeys(values))))
    if query.errors_only:
        conditions.append(Q(error_count__gt=0))
    if query.min_duration_ms is not None:
        conditions.append(Q(duration_ns__gte=int(query.min_duration_ms * NS_PER_MS)))
    if query.max_duration_ms is not None:
        conditions.append(Q(duration_ns__lte=int(query.max_duration_ms * NS_PER_MS)))
    if query.start_from_ns is not None:
        conditions.append(Q(start_ns__gte=query.start_from_ns))
    if query.start_to_ns is not None:
        conditions.append(Q(start_ns__lte=query.start_to_ns))
    if query.exclude_root_names:
        conditions.append(~Q(root_name__in=query.exclude_root_names))
    for prefix in query.exclude_root_prefixes:
        conditions.append(~Q(root_name__startswith=prefix))
    return conditions


def stored_traces() -> QuerySet[Trace]:
    """The summary rows of the traces whose spans are stored: all but the dropped ones."""
    return Trace.objects.exclude(decision=Trace.Decision.DROP)


def trace_search(query: TraceQuery) -> QuerySet[Trace]:
    """The matching traces' summary rows, sorted; lazy, so evaluate it inside ``untraced()``.
    A trace tail retention dropped has a row but no spans: not a result."""
    return stored_traces().filter(*_trace_conditions(query)).order_by(*SORTS.get(query.sort, SORTS["newest"]))


def trace_search_page(
    query: TraceQuery, page_number: int | str | None, per_page: int = 25
) -> Page[TraceSummary]:
    """One page of ``trace_search``, its rows turned into ``TraceSummary``."""
    with untraced():
        page = Paginator(trace_search(query), per_page).get_page(page_number)
        summaries = trace_summaries(list(page.object_list))
        # The Trace paginator still gives the counts and page links; only the rows change type.
        return Page(summaries, page.number, page.paginator)  # type: ignore[arg-type]


def trace_summaries(traces: list[Trace]) -> list[TraceSummary]:
    """Adds each trace's services and orders (one query for the page)."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    with untraced():
        entries = TraceAttribute.objects.filter(
            trace_id__in=[trace.trace_id for trace in traces], key__in=[TraceAttribute.SERVICE, ORDER_ID]
        )
        for trace_id, key, value in entries.values_list("trace_id", "key", "value"):
            found[trace_id][key].add(value)
    return [
        TraceSummary(
            trace_id=trace.trace_id,
            root_name=trace.root_name,
            services=tuple(sorted(found[trace.trace_id][TraceAttribute.SERVICE])),
            span_count=trace.span_count,
            error_count=trace.error_count,
            start_ns=trace.start_ns,
            duration_ns=trace.duration_ns,
            order_ids=tuple(sorted(found[trace.trace_id][ORDER_ID])),
        )
        for trace in traces
    ]


def service_names() -> list[str]:
    with untraced():
        return list(Operation.objects.order_by("service").values_list("service", flat=True).distinct())


def operation_names(limit: int = 500) -> list[str]:
    with untraced():
        names = Operation.objects.order_by("name").values_list("name", flat=True).distinct()
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
        others = stored_traces().filter(root_name=root_name).exclude(trace_id=exclude)
        traces = list(others.order_by(*SORTS["newest"])[:limit])
    return trace_summaries(traces)


def trace_spans(trace_id: str) -> list[Span]:
    with untraced():
        return list(Span.objects.filter(trace_id=trace_id).order_by("start_time_ns"))


# What the trace page reads of each span: all but the links, which only a span's details
# show (read when asked for, one query for that span: Django loads a field left unread).
PAGE_FIELDS = tuple(field.attname for field in Span._meta.concrete_fields if field.attname != "links")


def trace_page_spans(trace_id: str) -> list[Span]:
    """The trace's spans for its page, in start order: the columns of ``PAGE_FIELDS`` only,
    each row made a ``Span`` without ``Model.__init__`` (a fifth of the time of reading
    20,000 spans); for the page's reading, not for saving."""
    with untraced():
        rows = Span.objects.filter(trace_id=trace_id).order_by("start_time_ns")
        database = rows.db
        spans = []
        for values in rows.values_list(*PAGE_FIELDS):
            span = Span.__new__(Span)
            span.__dict__.update(zip(PAGE_FIELDS, values, strict=True))
            span._state = ModelState()
            span._state.adding, span._state.db = False, database
            spans.append(span)
        return spans


def trace_id_for_order(order_id: str) -> str | None:
    """The trace an order was placed in: the earliest span that names the order."""
    with untraced():
        span = Span.objects.filter(order_id=str(order_id)).order_by("start_time_ns").first()
    return span.trace_id if span else None


def order_trace_spans(order_id: str, trace_id: str = "") -> list[Span]:
    """An order's stored trace: by the trace id the order knows, else by the spans naming it."""
    trace_id = trace_id or trace_id_for_order(order_id) or ""
    return trace_spans(trace_id) if trace_id else []


def span_to_dict(span: Span) -> dict:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "name": span.name,
        "service": span.service,
        "kind": span.kind,
        "start_time": span.start_time_ns,
        "end_time": span.end_time_ns,
        "duration_ms": round(span.duration_ns / 1e6, 3),
        "status": span.status,
        "status_message": span.status_message,
        "attributes": span.attributes,
        "events": span.events,
        "links": span.links,
        "resource": span.resource,
    }


# --- rows for the dashboard's metrics: (caller or service, callee or operation, duration_ns,
# status, start_time_ns, trace_id) of the spans of a window ---------------------------------


# Kinds whose every span, sampled or not, has a metric row (``SpanMetric``); the other kinds
# are counted from the stored spans, which sampling thins.
METERED_KINDS = ("SERVER", "CONSUMER")


def edge_rows(
    *, start_ns: int | None, end_ns: int, kinds: Sequence[str], max_rows: int
) -> tuple[list[tuple], bool]:
    """``(parent's service, service, …, kind)`` of every request and task run of ``kinds`` in
    the window whose parent (the HTTP call or publish that made it, or a local parent) is of
    another service, and whether that is all of them. The last column, the child's kind,
    tells a REST call (SERVER) from a task sent through a queue (CONSUMER). Read from the
    metric rows, so every call counts, sampled or not; a row whose parent has no metric row
    makes none."""
    parent_service = SpanMetric.objects.filter(
        trace_id=OuterRef("trace_id"), span_id=OuterRef("parent_span_id")
    ).values("service")[:1]
    metered = SpanMetric.objects.filter(kind__in=[kind for kind in kinds if kind in METERED_KINDS])
    query = (
        _in_window(metered.exclude(parent_span_id=""), start_ns, end_ns)
        .annotate(parent_service=Subquery(parent_service), example=_example())
        .filter(parent_service__isnull=False)
        .exclude(parent_service=F("service"))
        .values_list("parent_service", "service", "duration_ns", "status", "start_time_ns", "example", "kind")
    )
    return _newest_rows(query, max_rows)


def operation_rows(
    *,
    start_ns: int | None,
    end_ns: int,
    kinds: Sequence[str],
    max_rows: int,
    service: str | None = None,
    operation: str | None = None,
) -> tuple[list[tuple], bool]:
    """``(service, name, …)`` of the window's spans of ``kinds`` (one service's, one
    operation's), and whether that is all of them. Requests and task runs come from the
    metric rows (every one, sampled or not; covering index ``spanmetric_kind_start_cover``),
    other kinds from the stored spans (``span_kind_start_cover``). The last column is the
    trace id, blank where the trace was not sampled: no trace to show as an example."""
    metered = [kind for kind in kinds if kind in METERED_KINDS]
    stored = [kind for kind in kinds if kind not in METERED_KINDS]
    parts = []
    if metered:
        metrics = _of(SpanMetric.objects.filter(kind__in=metered), service, operation)
        parts.append(
            _in_window(metrics, start_ns, end_ns)
            .annotate(example=_example())
            .values_list("service", "name", "duration_ns", "status", "start_time_ns", "example")
        )
    if stored:
        spans = _of(Span.objects.filter(kind__in=stored), service, operation)
        parts.append(
            _in_window(spans, start_ns, end_ns).values_list(
                "service", "name", "duration_ns", "status", "start_time_ns", "trace_id"
            )
        )
    read = [_newest_rows(query, max_rows) for query in parts]
    rows = [row for part, _ in read for row in part]
    if len(rows) > max_rows:  # each part fits but both together do not: the newest of both
        return sorted(rows, key=lambda row: row[4], reverse=True)[:max_rows], False
    return rows, all(complete for _, complete in read)


def _of(rows: QuerySet, service: str | None, operation: str | None) -> QuerySet:
    if service:
        rows = rows.filter(service=service)
    if operation:
        rows = rows.filter(name=operation)
    return rows


def _example() -> Case:
    """A metric row's trace id where its trace was sampled (stored), else blank."""
    return Case(When(sampled=True, then=F("trace_id")), default=Value(""))


def _in_window(spans: QuerySet, start_ns: int | None, end_ns: int) -> QuerySet:
    spans = spans.filter(start_time_ns__lte=end_ns)
    if start_ns is not None:
        spans = spans.filter(start_time_ns__gte=start_ns)
    return spans


def _newest_rows(query: QuerySet, max_rows: int) -> tuple[list[tuple], bool]:
    """The rows of ``query``, and whether that is all of them. Unordered, so the database
    can answer from whichever index covers the query; only a window holding more than
    ``max_rows`` spans is read again in time order, for its newest ``max_rows``."""
    with untraced():
        rows = list(query.order_by()[: max_rows + 1])
        if len(rows) <= max_rows:
            return rows, True
        return list(query.order_by("-start_time_ns")[:max_rows]), False


# --- sampling: why a trace was kept, and what tail retention did over a window ---------------


@dataclass(frozen=True)
class TraceSampling:
    """Why a stored trace is here: the head sampler's rule (on its root span) and tail
    retention's decision (on its summary row)."""

    head_rule: str
    head_probability: float | None
    decision: str  # Trace.Decision: "" while pending
    reason: str  # Trace.Reason
    share: float | None
    tier: str
    incomplete: bool
    decided_at: dt.datetime | None
    dropped_spans: int = 0  # refused at ingest, over the store's caps (telemetry.store.caps)


def trace_sampling(trace_id: str, spans: Sequence[Span]) -> TraceSampling:
    """``spans`` are the trace's (for the root's head attributes); the row is read here."""
    roots = [span for span in spans if not span.parent_span_id] or list(spans)
    head = min(roots, key=lambda span: span.start_time_ns).attributes if roots else {}
    probability = head.get(SAMPLING_PROBABILITY)
    with untraced():
        row = Trace.objects.filter(trace_id=trace_id).first()
    return TraceSampling(
        head_rule=str(head.get(SAMPLING_RULE, "")),
        head_probability=float(probability) if isinstance(probability, int | float) else None,
        decision=row.decision if row else "",
        reason=row.decision_reason if row else "",
        share=row.decision_share if row else None,
        tier=row.tier if row else "",
        incomplete=row.incomplete if row else False,
        decided_at=row.decided_at if row else None,
        dropped_spans=row.dropped_span_count if row else 0,
    )


@dataclass(frozen=True)
class TierCounts:
    tier: str  # "" for traces that name none
    seen: int
    kept: int
    dropped: int


@dataclass(frozen=True)
class SamplingCounts:
    """Tail retention over the traces that started in a window."""

    seen: int
    kept: dict[str, int]  # by reason
    dropped: dict[str, int]  # by reason
    pending: int
    tiers: list[TierCounts]

    @property
    def kept_total(self) -> int:
        return sum(self.kept.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def sampling_counts(start_ns: int | None, end_ns: int) -> SamplingCounts:
    """One grouped read of the summary rows (dropped traces keep theirs) of the traces that
    started in [start_ns, end_ns]; ``start_ns`` None: from the first."""
    traces = Trace.objects.filter(start_ns__lte=end_ns)
    if start_ns is not None:
        traces = traces.filter(start_ns__gte=start_ns)
    with untraced():
        groups = list(
            traces.order_by().values_list("decision", "decision_reason", "tier").annotate(n=Count("trace_id"))
        )
    kept: dict[str, int] = dict.fromkeys(Trace.Reason.values, 0)
    dropped = dict.fromkeys(Trace.Reason.values, 0)
    tiers: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for decision, reason, tier, n in groups:
        outcome = {Trace.Decision.KEEP: kept, Trace.Decision.DROP: dropped}.get(decision)
        if outcome is not None:
            outcome[reason] = outcome.get(reason, 0) + n
        tiers[tier][0] += n
        tiers[tier][1] += n * (decision == Trace.Decision.KEEP)
        tiers[tier][2] += n * (decision == Trace.Decision.DROP)
    return SamplingCounts(
        seen=sum(n for *_, n in groups),
        kept=kept,
        dropped={reason: n for reason, n in dropped.items() if reason != Trace.Reason.LATE_ERROR},
        pending=sum(n for decision, *_, n in groups if decision == Trace.Decision.PENDING),
        tiers=[TierCounts(tier, *counts) for tier, counts in sorted(tiers.items())],
    )
