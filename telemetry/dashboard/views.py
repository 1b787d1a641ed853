"""The service dashboard (staff who may read traces, ``telemetry.access``): the service
graph with per-edge numbers, per-operation metrics with sparklines, and what sampling kept
and dropped. Numbers come from ``telemetry.dashboard.metrics`` and ``telemetry.selectors``;
SVG geometry from ``telemetry.dashboard.charts``; nothing is drawn in the browser. Every page answers
``?format=json`` with the same numbers (``telemetry.dashboard.serializers``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from telemetry.access import VIEW_TRACES, staff_with_permission
from telemetry.dashboard import charts, serializers
from telemetry.dashboard import metrics as span_metrics
from telemetry.models import Trace
from telemetry.selectors import SamplingCounts, sampling_counts, service_names
from telemetry.store import tail
from telemetry.viewer.serializers import wants_json


def _window(request: HttpRequest) -> span_metrics.Window:
    return span_metrics.window(request.GET.get("window", span_metrics.DEFAULT_WINDOW))


def _windows() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _seconds) in span_metrics.WINDOWS.items()]


def _partial(stats: Iterable[span_metrics.Stats]) -> dict[str, object]:
    """The notice's context: figures read from only the newest ``MAX_ROWS`` spans."""
    return {"partial": any(item.partial for item in stats), "max_rows": f"{span_metrics.MAX_ROWS:,}"}


@staff_with_permission(VIEW_TRACES)
def services(request: HttpRequest) -> HttpResponse:
    win = _window(request)
    edges = span_metrics.service_edges(win)
    layout = charts.graph_layout([(edge.source, edge.target) for edge in edges])
    if wants_json(request):
        return JsonResponse(serializers.services_page(win, edges, layout.nodes))
    failing = {edge.target for edge in edges if edge.stats.errors}
    context = {
        "window": win,
        "windows": _windows(),
        "edges": edges,
        "lines": _drawn_lines(edges, layout),
        "graph": layout,
        "nodes": [{"node": node, "failing": node.name in failing} for node in layout.nodes],
        **_partial(edge.stats for edge in edges),
    }
    return render(request, "telemetry/services.html", context)


def _drawn_lines(edges: list, layout: charts.GraphLayout) -> list[dict[str, object]]:
    """The graph's lines as drawn: each edge with its line, and a two-way pair once, its
    reverse edge as ``back`` (the label gives both directions); ``look`` is ``error`` when
    some of its calls failed, else ``queue`` or ``rest``."""
    edge_of = {(e.source, e.target): e for e in edges}
    drawn = []
    for edge, line in zip(edges, layout.lines, strict=True):
        if not line.drawn:
            continue
        back = edge_of[edge.target, edge.source] if line.two_way else None
        failed = edge.stats.errors or (back is not None and back.stats.errors)
        look = "error" if failed else "queue" if edge.by_queue else "rest"
        drawn.append({"edge": edge, "line": line, "back": back, "look": look})
    return drawn


@staff_with_permission(VIEW_TRACES)
def metrics(request: HttpRequest) -> HttpResponse:
    win = _window(request)
    kinds = [kind for kind in request.GET.getlist("kind") if kind in span_metrics.SPAN_KINDS]
    kinds = kinds or list(span_metrics.DEFAULT_KINDS)
    service = request.GET.get("service", "")
    operations = span_metrics.operation_metrics(win, kinds=kinds, service=service or None)
    if wants_json(request):
        return JsonResponse(serializers.metrics_page(win, kinds, service, operations))
    rows = [
        {
            "op": op,
            "calls_points": charts.sparkline([bucket.calls for bucket in op.buckets]),
            "errors_points": charts.sparkline([bucket.errors for bucket in op.buckets]),
            "max_errors": max(bucket.errors for bucket in op.buckets),
            "p95_points": charts.sparkline([bucket.p95_ms for bucket in op.buckets]),
            "max_calls": max(bucket.calls for bucket in op.buckets),
            "max_p95_ms": max((b.p95_ms for b in op.buckets if b.p95_ms is not None), default=0),
        }
        for op in operations
    ]
    context = {
        "window": win,
        "windows": _windows(),
        "kinds": kinds,
        "all_kinds": span_metrics.SPAN_KINDS,
        "service": service,
        "services": service_names(),
        "rows": rows,
        "buckets": span_metrics.BUCKETS,
        **_partial(op.stats for op in operations),
    }
    return render(request, "telemetry/metrics.html", context)


def sampling_settings() -> dict[str, object]:
    """The sampling settings in force, and the effective tail shares per tier."""
    policy = tail.Policy.from_settings()
    tiers = sorted({tail.STANDARD, *policy.multipliers})
    return {
        "head": {"sample_rate": settings.TELEMETRY_SAMPLE_RATE, "rules": settings.TELEMETRY_SAMPLING_RULES},
        "tail": {
            "enabled": settings.TELEMETRY_TAIL_SAMPLING,
            "decision_wait_s": policy.wait_s,
            "slow_ms": policy.slow_ms,
            "slow_share": policy.slow_share,
            "base_share": policy.base_share,
            "tier_multipliers": policy.multipliers,
            "shares": [
                {
                    "tier": tier,
                    "multiplier": policy.multiplier(tier),
                    "slow": policy.share(Trace.Reason.SLOW, tier),
                    "base": policy.share(Trace.Reason.BASE, tier),
                }
                for tier in tiers
            ],
        },
    }


def sampling_figures(counts: SamplingCounts) -> dict[str, object]:
    return {
        "seen": counts.seen,
        "kept": counts.kept_total,
        "dropped": counts.dropped_total,
        "pending": counts.pending,
        "kept_by_reason": counts.kept,
        "dropped_by_reason": counts.dropped,
        "tiers": [dataclasses.asdict(row) for row in counts.tiers],
    }


@staff_with_permission(VIEW_TRACES)
def sampling(request: HttpRequest) -> HttpResponse:
    """Tail retention over the traces that started in the window: seen, kept and dropped by
    reason, pending; and the settings in force. ``?format=json``: the same figures."""
    win = _window(request)
    counts = sampling_counts(win.start_ns, win.end_ns)
    figures = sampling_figures(counts)
    in_force = sampling_settings()
    if wants_json(request):
        return JsonResponse({"window": win.key, **figures, "settings": in_force})
    context = {
        "window": win,
        "windows": _windows(),
        "figures": figures,
        "in_force": in_force,
        "reasons": [
            {
                "reason": reason.value,
                "label": reason.label,
                "kept": counts.kept[reason.value],
                "dropped": counts.dropped.get(reason.value),  # none for late_error: never a drop
            }
            for reason in Trace.Reason
        ],
    }
    return render(request, "telemetry/sampling.html", context)
