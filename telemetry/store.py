"""Writing spans into the embedded store and reading traces back out of it.

The exporter runs in the batch processor's thread; the SDK suppresses instrumentation
while it exports, so storing spans creates no spans. Readers suppress it too, so the
viewer and the ``trace`` command never trace their own queries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

from django.db import connections
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from telemetry import attributes
from telemetry.models import Span

logger = logging.getLogger(__name__)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _plain(values) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in (values or {}).items()}


def span_to_row(span: ReadableSpan) -> Span:
    context = span.get_span_context()
    resource = _plain(span.resource.attributes)
    span_attributes = _plain(span.attributes)
    return Span(
        trace_id=_hex(context.trace_id, 32),
        span_id=_hex(context.span_id, 16),
        parent_span_id=_hex(span.parent.span_id, 16) if span.parent else "",
        name=span.name[:300],
        service=str(span_attributes.get(attributes.SERVICE) or resource.get("service.name", "unknown")),
        kind=span.kind.name,
        start_time_ns=span.start_time or 0,
        end_time_ns=span.end_time or 0,
        duration_ns=(span.end_time or 0) - (span.start_time or 0),
        status=span.status.status_code.name,
        status_message=span.status.description or "",
        attributes=span_attributes,
        events=[
            {"name": event.name, "time_ns": event.timestamp, "attributes": _plain(event.attributes)}
            for event in span.events
        ],
        links=[
            {
                "trace_id": _hex(link.context.trace_id, 32),
                "span_id": _hex(link.context.span_id, 16),
                "attributes": _plain(link.attributes),
            }
            for link in span.links
        ],
        resource=resource,
        order_id=str(span_attributes.get(attributes.ORDER_ID, ""))[:36],
    )


class StoreSpanExporter(SpanExporter):
    """Bulk-inserts finished spans into the ``telemetry`` database."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            Span.objects.bulk_create([span_to_row(span) for span in spans], ignore_conflicts=True)
        except Exception:  # never let telemetry take the process down
            logger.exception("could not store %d spans", len(spans))
            connections[Span.objects.db].close()  # reconnect on the next batch
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@contextmanager
def untraced():
    """Read the store without tracing the reads."""
    with suppress_instrumentation():
        yield


def trace_spans(trace_id: str) -> list[Span]:
    with untraced():
        return list(Span.objects.filter(trace_id=trace_id).order_by("start_time_ns"))


def trace_id_for_order(order_id: str) -> str | None:
    """The trace an order was placed in: the earliest span that names the order."""
    with untraced():
        span = Span.objects.filter(order_id=str(order_id)).order_by("start_time_ns").first()
    return span.trace_id if span else None


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


def span_tree(spans: Iterable[Span]) -> list[tuple[int, Span]]:
    """Depth-first (depth, span) pairs; spans whose parent is missing become roots."""
    spans = list(spans)
    ids = {span.span_id for span in spans}
    children: dict[str, list[Span]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: s.start_time_ns):
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    ordered: list[tuple[int, Span]] = []

    def walk(span: Span, depth: int) -> None:
        ordered.append((depth, span))
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return ordered
