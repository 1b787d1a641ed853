"""The failures page, ``/traces/failures/`` (staff who may read traces, ``telemetry.access``):
failed and slow traces grouped by root-cause signature over a window, so one glance answers
"how many orders, failing how, since when". Figures come from ``telemetry.failures``;
sparklines from ``telemetry.dashboard.charts``. ``?format=json`` gives the same figures."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from telemetry import failures
from telemetry.access import VIEW_TRACES, staff_with_permission
from telemetry.dashboard import charts
from telemetry.dashboard import metrics as span_metrics
from telemetry.models import FailureGroup
from telemetry.viewer.serializers import wants_json

KINDS = {"": "failed and slow", FailureGroup.Kind.ERROR: "failed only", FailureGroup.Kind.SLOW: "slow only"}


@staff_with_permission(VIEW_TRACES)
def failure_groups(request: HttpRequest) -> HttpResponse:
    """The groups of the window, the most traces first; the traces that settled since the
    last grouping run are grouped first (at most ``PAGE_BATCH``, each analysed once)."""
    win = span_metrics.window(request.GET.get("window", span_metrics.DEFAULT_WINDOW))
    kind = request.GET.get("kind", "")
    kind = kind if kind in KINDS else ""
    failures.group_failures(batch=failures.PAGE_BATCH)
    report = failures.failure_report(win.start_ns, win.end_ns, kind=kind)
    if wants_json(request):
        return JsonResponse(report_json(win, kind, report))
    context = {
        "window": win,
        "windows": [(key, label) for key, (label, _seconds) in span_metrics.WINDOWS.items()],
        "kind": kind,
        "kinds": list(KINDS.items()),
        "report": report,
        "rows": [
            {
                "g": g,
                "label": failures.describe(g.group),
                "points": charts.sparkline(list(g.buckets)),
                "peak": max(g.buckets),
                "more_orders": len(g.orders) - len(g.shown_orders()),
                "since": _time(g.group.first_seen_ns),
                "first": _time(g.first_ns),
                "last": _time(g.last_ns),
            }
            for g in report.groups
        ],
    }
    return render(request, "telemetry/failures.html", context)


def _time(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


def report_json(win: span_metrics.Window, kind: str, report: failures.FailureReport) -> dict:
    return {
        "window": {"key": win.key, "start_ns": report.start_ns, "end_ns": report.end_ns},
        "kind": kind,
        "traces": report.traces,
        "orders": report.orders,
        "partial": report.partial,
        "groups": [
            {
                "id": g.group.pk,
                "kind": g.group.kind,
                "service": g.group.service,
                "operation": g.group.operation,
                "cause": g.group.cause,
                "exception_type": g.group.exception_type,
                "fault": g.group.fault,
                "summary": g.group.summary,
                "count": g.count,
                "first_seen_ns": g.group.first_seen_ns,
                "first_in_window_ns": g.first_ns,
                "last_seen_ns": g.last_ns,
                "buckets": list(g.buckets),
                "example_trace_id": g.example_trace_id,
                "money": dict(g.money),
                "stock": dict(g.stock),
                "orders": [
                    {"order_id": o.order_id, "trace_id": o.trace_id, "money": o.money, "stock": o.stock}
                    for o in g.orders
                ],
            }
            for g in report.groups
        ],
    }
