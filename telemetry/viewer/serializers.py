"""The search page as JSON (``/traces/?format=json``): the rows and counts the HTML shows,
for scripts. Plain functions from the selectors' value objects to JSON-ready dicts, and
``wants_json``, which the dashboard's pages ask too."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.http import HttpRequest

from telemetry.selectors import TraceSummary


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
