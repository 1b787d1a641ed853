"""The trace viewer (staff only): recent traces and one trace as a tree."""

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Max, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from telemetry.models import Span
from telemetry.store import span_tree, trace_spans, untraced


@staff_member_required
def trace_list(request: HttpRequest) -> HttpResponse:
    with untraced():
        traces = list(
            Span.objects.values("trace_id")
            .annotate(start=Min("start_time_ns"), end=Max("end_time_ns"), spans=Count("id"))
            .order_by("-start")[:50]
        )
    for row in traces:
        row["duration_ms"] = (row["end"] - row["start"]) / 1e6
    return render(request, "telemetry/trace_list.html", {"traces": traces})


@staff_member_required
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    spans = trace_spans(trace_id)
    if not spans:
        raise Http404("No spans stored for this trace (yet).")
    start = min(span.start_time_ns for span in spans)
    total = max(span.end_time_ns for span in spans) - start or 1
    rows = [
        {
            "span": span,
            "depth": depth,
            "offset_pct": 100 * (span.start_time_ns - start) / total,
            "width_pct": max(0.3, 100 * span.duration_ns / total),
            "duration_ms": span.duration_ns / 1e6,
        }
        for depth, span in span_tree(spans)
    ]
    context = {
        "trace_id": trace_id,
        "rows": rows,
        "total_ms": total / 1e6,
        "errors": sum(span.status == "ERROR" for span in spans),
    }
    return render(request, "telemetry/trace_detail.html", context)
