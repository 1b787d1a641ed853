"""Failures grouped by cause: failed and slow traces sorted into groups by a root-cause
signature, for ``/traces/failures/``, ``manage.py failures``, the new-group alert mail and
the order admin's group column.

The **signature** is the diagnosis' verdict (``telemetry.diagnosis.verdict``): the service
at fault, its operation (ids in URL paths folded to ``<id>``) and the cause in the
verdict's words, with the injected fault it names (``fault.name``), the root cause's
exception type for a trace with an error, and whether the trace failed or was only slow
(longer than ``TELEMETRY_TAIL_SLOW_MS``, tail retention's "slow"). A group therefore says
what the trace's diagnosis says: the shop's failed call to payments is payments
unreachable, in both. A slow trace whose time no span explains (verdict "no problem
found") is signed by the span that spent the most time on its own (self time).

**Computed once per trace, not per page view.** ``group_failures`` analyses the failed and
slow traces that have *settled* (no span stored for ``TELEMETRY_FAILURES_SETTLE`` seconds,
so the worker's and the web's batches are both in) and are not grouped yet, or got spans
since they were (``TraceFailure.stored_ns`` below ``Trace.last_stored_ns``): a trace is
analysed once, again only if it changed. One ``TraceFailure`` row per trace keeps its group,
its order and what became of the money and the stock; the pages only read those rows
(``failure_report``: one indexed range read of a window). It runs in the alert task (every
``TELEMETRY_ALERT_INTERVAL``, so a new group is mailed within one interval), and for a
bounded batch when the page or the command is opened, so what they show is current without
beat. A group row outlives its traces; counts, first and last seen of a window come from
the member rows in it, which retention removes with their traces (cascade).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from instrumentation import attributes, names
from instrumentation.context import untraced
from instrumentation.diagnosis import OrderFailureGroup
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.model import Diagnosis
from telemetry.diagnosis.propagation import (
    answered_ok,
    captured,
    committed,
    payment_undone,
    ran_ok,
    stock_undone,
)
from telemetry.diagnosis.spans import short_statement, statement_of, url_of
from telemetry.diagnosis.timing import self_time_ns
from telemetry.diagnosis.verdict import NOTHING
from telemetry.models import FailureGroup, Span, Trace, TraceFailure
from telemetry.selectors import trace_spans
from telemetry.tree import SpanTree

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
LOOKBACK_S = 3600  # how far back (by last stored span) a run looks for traces to group
BATCH = 500  # traces analysed per run at most: a backlog is worked off over several runs
PAGE_BATCH = 100  # what a page view may analyse before it reads, so it stays quick
MAX_ROWS = 100_000  # member rows read for one window (the newest), past which it says so
BUCKETS = 24
ORDERS_SHOWN = 10

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_NUMBER = re.compile(r"(?<=/)\d+(?=/|$)")


# -- the signature ------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    kind: str  # FailureGroup.Kind
    service: str
    operation: str
    cause: str  # the verdict's cause
    exception_type: str
    fault: str

    def digest(self) -> str:
        fields = (self.kind, self.service, self.operation, self.cause, self.exception_type, self.fault)
        return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def fold_ids(text: str) -> str:
    """``text`` with UUIDs as ``<id>`` and numeric path segments as ``<n>``: the same for
    every order."""
    return _NUMBER.sub("<n>", _UUID.sub("<id>", text))


def operation_of(span: Span) -> str:
    """What the span did, the same for every order: ``UPDATE orders_order``,
    ``POST /api/payments/payments/<id>/capture/``, else the span's name."""
    statement = statement_of(span)
    if statement:
        return short_statement(statement)
    url = url_of(span)
    if span.kind == "CLIENT" and url:
        return f"{span.name} {fold_ids(urlsplit(url).path)}"
    return _UUID.sub("<id>", span.name)


def fault_near(tree: SpanTree[Span], span: Span) -> str:
    holder = tree.nearest(span, attributes.FAULT_NAME)
    return str(holder.attributes[attributes.FAULT_NAME]) if holder else ""


def slowest_span(tree: SpanTree[Span]) -> Span:
    """The span that spent the most time on its own (not in its children)."""
    return max(tree.spans, key=lambda s: (self_time_ns(s, tree.children(s)), -s.start_time_ns))


def signature(tree: SpanTree[Span], diagnosis: Diagnosis) -> Signature:
    """The verdict's signature; for a slow trace without a verdict of its own, the slowest
    span's."""
    verdict = diagnosis.verdict
    cause = diagnosis.root_cause
    kind = FailureGroup.Kind.ERROR if cause is not None else FailureGroup.Kind.SLOW
    exception = cause.exception_type if cause is not None else ""
    if verdict is None or verdict.cause == NOTHING or not verdict.service:
        span = slowest_span(tree)
        return Signature(kind, span.service, operation_of(span), NOTHING, exception, fault_near(tree, span))
    operation = fold_ids(verdict.operation)
    return Signature(kind, verdict.service, operation, verdict.cause, exception, verdict.fault)


def summary_of(tree: SpanTree[Span], sig: Signature, diagnosis: Diagnosis) -> str:
    """The diagnosis sentence a group and its member show: the verdict's, and for a trace
    with an error what became of it (the order failed, the payment voided, …)."""
    verdict = diagnosis.verdict
    if verdict is None or sig.cause == NOTHING:
        span = slowest_span(tree)
        own = self_time_ns(span, tree.children(span)) / NS_PER_MS
        fault = f" (fault {sig.fault})" if sig.fault else ""
        return (
            f"slow: {sig.service}: {sig.operation} spent {own:.0f} ms of the trace's "
            f"{diagnosis.wall_ns / NS_PER_MS:.0f} ms on its own{fault}"
        )
    if diagnosis.root_cause is None:
        return f"slow: {verdict.sentence}"
    return "; ".join((verdict.sentence, *diagnosis.outcome))


# -- what became of the order -------------------------------------------------------------


def money_outcome(tree: SpanTree[Span]) -> str:
    """Where the order's money ended, as far as the trace shows."""
    if answered_ok(tree, names.PAYMENT_CANCEL_ROUTE) or ran_ok(tree, names.PAYMENT_CANCEL_TASK):
        undone = payment_undone(tree)  # "payment refunded", "payment voided", "no payment to void"
        return undone.removeprefix("payment ") if undone.startswith("payment ") else "none"
    if captured(tree):
        return "captured"
    return "authorised" if answered_ok(tree, names.PAYMENT_AUTHORIZE_ROUTE) else "none"


def stock_outcome(tree: SpanTree[Span]) -> str:
    """Where the order's stock ended, as far as the trace shows."""
    if answered_ok(tree, names.STOCK_RELEASE_ROUTE) or ran_ok(tree, names.STOCK_RELEASE_TASK):
        return "released" if stock_undone(tree) == "stock released" else "none"
    if committed(tree):
        return "committed"
    return "reserved" if answered_ok(tree, names.STOCK_RESERVE_ROUTE) else "none"


def order_of(spans: Iterable[Span]) -> str:
    return next((span.order_id for span in spans if span.order_id), "")


# -- grouping (the write) -----------------------------------------------------------------


def due(*, now_ns: int, lookback_s: float | None, settle_s: float) -> Q:
    """The traces to analyse: failed or slow, settled, not dropped, not grouped since their
    last span was stored."""
    slow_ns = int(settings.TELEMETRY_TAIL_SLOW_MS * NS_PER_MS)
    condition = Q(decision__in=[Trace.Decision.PENDING, Trace.Decision.KEEP])
    condition &= Q(last_stored_ns__lt=now_ns - int(settle_s * NS_PER_S))
    if lookback_s is not None:
        condition &= Q(last_stored_ns__gte=now_ns - int(lookback_s * NS_PER_S))
    condition &= Q(error_count__gt=0) | Q(duration_ns__gt=slow_ns)
    return condition & (Q(failure__isnull=True) | Q(failure__stored_ns__lt=F("last_stored_ns")))


def group_failures(
    *,
    now_ns: int | None = None,
    lookback_s: float | None = LOOKBACK_S,
    batch: int = BATCH,
    settle_s: float | None = None,
) -> dict[str, int]:
    """Groups up to ``batch`` due traces (``now_ns``: the wall clock, as ``last_stored_ns``
    is; ``lookback_s`` None: however old). Returns counts: ``grouped``, ``new_groups``."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    settle_s = settings.TELEMETRY_FAILURES_SETTLE if settle_s is None else settle_s
    counts = {"grouped": 0, "new_groups": 0}
    with untraced():
        condition = due(now_ns=now_ns, lookback_s=lookback_s, settle_s=settle_s)
        traces = list(
            Trace.objects.filter(condition)
            .order_by("last_stored_ns", "trace_id")
            .only("trace_id", "last_stored_ns")[:batch]
        )
        for trace in traces:
            created = group_trace(trace)
            if created is not None:
                counts["grouped"] += 1
                counts["new_groups"] += created
    return counts


def group_trace(trace: Trace) -> bool | None:
    """Analyses one trace and files it in its group; returns whether the group is new, or
    None when the trace has no spans (left) or is neither failed nor slow."""
    spans = trace_spans(trace.trace_id)
    if not spans:
        return None
    tree = SpanTree(spans)
    diagnosis = analyze(spans)
    slow = diagnosis.wall_ns > settings.TELEMETRY_TAIL_SLOW_MS * NS_PER_MS
    if diagnosis.root_cause is None and not slow:
        return None
    sig = signature(tree, diagnosis)
    summary = summary_of(tree, sig, diagnosis)
    start_ns = min(span.start_time_ns for span in spans)
    group, created = FailureGroup.objects.get_or_create(
        signature=sig.digest(),
        defaults={
            "kind": sig.kind,
            "service": sig.service[:100],
            "operation": sig.operation[:300],
            "cause": sig.cause[:50],
            "exception_type": sig.exception_type[:200],
            "fault": sig.fault[:100],
            "summary": summary,
            "first_seen_ns": start_ns,
        },
    )
    FailureGroup.objects.filter(pk=group.pk, first_seen_ns__gt=start_ns).update(first_seen_ns=start_ns)
    TraceFailure.objects.update_or_create(
        trace_id=trace.trace_id,
        defaults={
            "group": group,
            "start_ns": start_ns,
            "duration_ns": diagnosis.wall_ns,
            "order_id": order_of(spans),
            "money": money_outcome(tree),
            "stock": stock_outcome(tree),
            "summary": summary,
            "stored_ns": trace.last_stored_ns,
        },
    )
    return created


def claim_new_groups(*, now_ns: int | None = None, lookback_s: float = LOOKBACK_S) -> list[FailureGroup]:
    """The groups no mail has announced yet, marked announced (a conditional update, so two
    overlapping runs announce each once), failures before slow traces and each kind oldest
    first: the mail opens with its first group, and a failed order is the news when a slow
    trace of the same minutes comes with it. Groups first seen before ``lookback_s`` (filed
    by a catch-up over old traces) are marked without being returned: they are not news."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    with untraced():
        fresh = FailureGroup.objects.filter(alerted_at__isnull=True)
        ids = list(fresh.order_by("first_seen_ns", "pk").values_list("pk", flat=True))
        claimed = [pk for pk in ids if fresh.filter(pk=pk).update(alerted_at=timezone.now())]
        recent = now_ns - int(lookback_s * NS_PER_S)
        news = FailureGroup.objects.filter(pk__in=claimed, first_seen_ns__gte=recent)
        return sorted(news, key=lambda g: (g.kind != FailureGroup.Kind.ERROR, g.first_seen_ns, g.pk))


# -- the groups of a window (the read) ----------------------------------------------------


@dataclass(frozen=True)
class AffectedOrder:
    order_id: str
    trace_id: str
    start_ns: int
    money: str
    stock: str


@dataclass(frozen=True)
class GroupReport:
    group: FailureGroup
    count: int  # traces in the window
    first_ns: int  # the first of them
    last_ns: int  # the last of them
    orders: tuple[AffectedOrder, ...]  # distinct orders, newest first
    money: tuple[tuple[str, int], ...]  # per order: ("refunded", 3), …
    stock: tuple[tuple[str, int], ...]
    buckets: tuple[int, ...]  # traces per time bucket over the window
    example_trace_id: str  # the newest member trace still stored ("" if none)

    @property
    def is_new(self) -> bool:
        """First seen inside the window: a new way to fail."""
        return self.group.first_seen_ns >= self.first_ns

    def shown_orders(self) -> tuple[AffectedOrder, ...]:
        return self.orders[:ORDERS_SHOWN]


@dataclass(frozen=True)
class FailureReport:
    groups: tuple[GroupReport, ...]  # the most traces first
    start_ns: int
    end_ns: int
    traces: int
    orders: int
    partial: bool  # read from the newest MAX_ROWS member rows only


Row = tuple[int, int, str, str, str, str, str]  # group, start, trace, order, money, stock, decision


def failure_report(start_ns: int | None, end_ns: int, *, kind: str = "") -> FailureReport:
    """The groups with traces that started in [start_ns, end_ns] (``kind``: only failed or
    only slow ones), from the stored member rows alone."""
    with untraced():
        rows_query = TraceFailure.objects.filter(start_ns__lte=end_ns)
        if start_ns is not None:
            rows_query = rows_query.filter(start_ns__gte=start_ns)
        if kind:
            rows_query = rows_query.filter(group__kind=kind)
        fields = ("group_id", "start_ns", "trace_id", "order_id", "money", "stock", "trace__decision")
        rows: list[Row] = list(rows_query.order_by("-start_ns").values_list(*fields)[: MAX_ROWS + 1])
        partial = len(rows) > MAX_ROWS
        rows = rows[:MAX_ROWS]
        groups = FailureGroup.objects.in_bulk({row[0] for row in rows})
    start = start_ns if start_ns is not None else min((row[1] for row in rows), default=end_ns)
    by_group: dict[int, list[Row]] = {}
    for row in rows:
        by_group.setdefault(row[0], []).append(row)
    reports = [group_report(groups[pk], members, start, end_ns) for pk, members in by_group.items()]
    reports.sort(key=lambda r: (-r.count, -r.last_ns, r.group.pk))
    orders = {row[3] for row in rows if row[3]}
    return FailureReport(tuple(reports), start, end_ns, len(rows), len(orders), partial)


def group_report(group: FailureGroup, rows: Sequence[Row], start_ns: int, end_ns: int) -> GroupReport:
    """One group's figures from its member rows, newest first."""
    orders: dict[str, AffectedOrder] = {}
    for _, started, trace_id, order_id, money, stock, _decision in rows:
        if order_id and order_id not in orders:
            orders[order_id] = AffectedOrder(order_id, trace_id, started, money, stock)
    example = next((row[2] for row in rows if row[6] != Trace.Decision.DROP), "")
    return GroupReport(
        group=group,
        count=len(rows),
        first_ns=rows[-1][1],
        last_ns=rows[0][1],
        orders=tuple(orders.values()),
        money=tuple(Counter(o.money for o in orders.values()).most_common()),
        stock=tuple(Counter(o.stock for o in orders.values()).most_common()),
        buckets=buckets([row[1] for row in rows], start_ns, end_ns),
        example_trace_id=example,
    )


def buckets(starts: Iterable[int], start_ns: int, end_ns: int, count: int = BUCKETS) -> tuple[int, ...]:
    """How many of ``starts`` fall in each of ``count`` equal slices of [start_ns, end_ns]."""
    width = max(end_ns - start_ns, 1) / count
    counts = [0] * count
    for started in starts:
        counts[min(max(int((started - start_ns) / width), 0), count - 1)] += 1
    return tuple(counts)


def describe(group: FailureGroup, sep: str = " · ") -> str:
    """The signature in a few words: ``orders-worker · UPDATE orders_order · database
    timeout · sqlite3.OperationalError · fault order_db_timeout`` (``sep`` between them). A
    group filed before causes were recorded shows "slow" for a slow one instead."""
    cause = group.cause or ("" if group.kind == FailureGroup.Kind.ERROR else "slow")
    fault = f"fault {group.fault}" if group.fault else ""
    parts = (group.service, group.operation, cause, group.exception_type, fault)
    return sep.join(part for part in parts if part)


def short_label(group: FailureGroup) -> str:
    """The signature for a narrow column: ``UPDATE orders_order: database timeout
    (order_db_timeout)``; a group filed before causes were recorded shows its exception."""
    what = group.cause or (group.exception_type.rsplit(".", 1)[-1] if group.exception_type else group.kind)
    return f"{group.operation}: {what}" + (f" ({group.fault})" if group.fault else "")


def group_path(group_id: int) -> str:
    return f"{reverse('telemetry:failures')}#group-{group_id}"


def group_url(group_id: int) -> str:
    return settings.THREADLINE_BASE_URL.rstrip("/") + group_path(group_id)


def trace_url(trace_id: str) -> str:
    return settings.THREADLINE_BASE_URL.rstrip("/") + reverse("telemetry:trace-detail", args=[trace_id])


# -- the seam for the orders admin --------------------------------------------------------


def order_failure_groups(order_ids: Sequence[str]) -> dict[str, OrderFailureGroup]:
    """Each order's group (of its newest grouped trace), for the admin's order list: one query
    for a page of orders (``TELEMETRY_ORDER_GROUPS``)."""
    with untraced():
        rows = (
            TraceFailure.objects.filter(order_id__in=[str(pk) for pk in order_ids])
            .select_related("group")
            .order_by("start_ns")
        )
        found = {row.order_id: row.group for row in rows}  # the newest wins
    return {
        order_id: OrderFailureGroup(
            group_id=group.pk, label=short_label(group), title=describe(group), path=group_path(group.pk)
        )
        for order_id, group in found.items()
    }
