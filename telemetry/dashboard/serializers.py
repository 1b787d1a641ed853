"""The dashboard pages as JSON (``?format=json`` on the services and metrics pages): the
numbers the HTML shows, without the drawing, for scripts. Plain functions from the
``telemetry.dashboard.metrics`` value objects to JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telemetry.dashboard import charts
from telemetry.dashboard import metrics as span_metrics


def window(win: span_metrics.Window) -> dict[str, Any]:
    """The window the figures are over; ``start_ns`` None means from the first stored span."""
    return {"key": win.key, "label": win.label, "start_ns": win.start_ns, "end_ns": win.end_ns}


def stats(item: span_metrics.Stats) -> dict[str, Any]:
    """Calls, errors and latency of a group of spans, with example trace ids."""
    return {
        "calls": item.calls,
        "errors": item.errors,
        "error_rate": item.error_rate,
        "p50_ms": item.p50_ms,
        "p95_ms": item.p95_ms,
        "p99_ms": item.p99_ms,
        "partial": item.partial,
        "slowest_trace_ids": list(item.slowest_trace_ids),
        "failed_trace_ids": list(item.failed_trace_ids),
    }


def _partial(items: Sequence[span_metrics.Stats]) -> dict[str, Any]:
    """Whether any figure is over only the newest ``max_rows`` spans of the window."""
    return {"partial": any(item.partial for item in items), "max_rows": span_metrics.MAX_ROWS}


def services_page(
    win: span_metrics.Window, edges: Sequence[span_metrics.Edge], nodes: Sequence[charts.Node]
) -> dict[str, Any]:
    """The service graph: each service (failing when a call to it failed) and each caller →
    callee edge with the callee's numbers."""
    failing = {edge.target for edge in edges if edge.stats.errors}
    return {
        "window": window(win),
        "nodes": [
            {"name": node.name, "layer": node.layer, "failing": node.name in failing} for node in nodes
        ],
        "edges": [
            {
                "source": edge.source,
                "target": edge.target,
                "via": edge.via,
                "queue": edge.queue or None,
                **stats(edge.stats),
            }
            for edge in edges
        ],
        **_partial([edge.stats for edge in edges]),
    }


def operation(op: span_metrics.OperationMetrics) -> dict[str, Any]:
    """One row of the metrics page: its numbers and the series behind its sparklines."""
    return {
        "service": op.service,
        "operation": op.operation,
        "rate_per_s": op.rate_per_s,
        **stats(op.stats),
        "buckets": [_bucket(bucket) for bucket in op.buckets],
    }


def _bucket(bucket: span_metrics.Bucket) -> dict[str, Any]:
    return {
        "start_ns": bucket.start_ns,
        "calls": bucket.calls,
        "errors": bucket.errors,
        "p95_ms": bucket.p95_ms,
    }


def metrics_page(
    win: span_metrics.Window,
    kinds: Sequence[str],
    service: str,
    operations: Sequence[span_metrics.OperationMetrics],
) -> dict[str, Any]:
    """Every operation's row, with the filters that chose them."""
    return {
        "window": window(win),
        "kinds": list(kinds),
        "service": service or None,
        "operations": [operation(op) for op in operations],
        **_partial([op.stats for op in operations]),
    }
