"""The search page as JSON (``/traces/?format=json``): the rows and counts the HTML shows,
for scripts; and a trace's stored spans as they are (``/traces/<id>/?format=json``).
Plain functions to JSON-ready dicts, and ``wants_json``, which the dashboard's pages ask too."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.http import HttpRequest

from telemetry.models import Span
from telemetry.selectors import TraceSummary

# A span's stored fields, in the order the raw JSON lists them.
SPAN_FIELDS = (
    "span_id", "parent_span_id", "name", "service", "kind", "start_time_ns", "end_time_ns",
    "duration_ns", "status", "status_message", "attributes", "events", "links", "resource",
)  # fmt: skip


def wants_json(request: HttpRequest) -> bool:
    """``?format=json``, the parameter DRF's pages answer too."""
    return request.GET.get("format") == "json"


def trace_summary(trace: TraceSummary) -> dict[str, Any]:
    """One search result: what a row of the results table shows."""
    return {
        "trace_id": trace.trace_id,
        "root_operation": trace.root_name,
        "start": trace.started_at.isoformat(),
        "start_ns": trace.start_ns,
        "duration_ms": trace.duration_ms,
        "spans": trace.span_count,
        "errors": trace.error_count,
        "services": list(trace.services),
        "order_ids": list(trace.order_ids),
    }


def search_page(page: Page[TraceSummary]) -> dict[str, Any]:
    """One page of results with the counts the page heading and links show."""
    return {
        "traces": [trace_summary(trace) for trace in page.object_list],
        "page": page.number,
        "pages": page.paginator.num_pages,
        "per_page": page.paginator.per_page,
        "total": page.paginator.count,
    }


def trace_spans_json(trace_id: str, spans: list[Span]) -> dict[str, Any]:
    """A trace's spans as the store holds them, in start order: the trace page's raw JSON
    (the OTLP download is the format other tools read)."""
    ordered = sorted(spans, key=lambda span: (span.start_time_ns, span.span_id))
    return {
        "trace_id": trace_id,
        "span_count": len(ordered),
        "spans": [{field: getattr(span, field) for field in SPAN_FIELDS} for span in ordered],
    }
