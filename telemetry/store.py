"""Writing spans (and the log records written inside them) into the embedded store and
reading traces back out of it.

The exporters run in the batch processors' threads; the SDK suppresses instrumentation
while they export, so storing spans creates no spans. Readers suppress it too, so the
viewer and the ``trace`` command never trace their own queries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

from django.db import connections
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import TraceFlags

from telemetry import attributes
from telemetry.index import save_spans
from telemetry.models import LogRecord, Span

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
    """Stores finished spans, with their search index, in the ``telemetry`` database."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            save_spans([span_to_row(span) for span in spans])
        except Exception:  # never let telemetry take the process down
            logger.exception("could not store %d spans", len(spans))
            connections[Span.objects.db].close()  # reconnect on the next batch
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def in_stored_span(record: ReadableLogRecord) -> bool:
    """Whether a log record was written inside a sampled span, whose trace the store keeps."""
    log = record.log_record
    sampled = log.trace_flags is not None and log.trace_flags & TraceFlags.SAMPLED
    return bool(log.trace_id and log.span_id and sampled)


def log_to_row(record: ReadableLogRecord) -> LogRecord:
    log = record.log_record
    log_attributes = dict(log.attributes or {})
    service = log_attributes.pop(attributes.SERVICE, None) or record.resource.attributes.get("service.name")
    return LogRecord(
        trace_id=_hex(log.trace_id, 32),
        span_id=_hex(log.span_id, 16),
        time_ns=log.timestamp or log.observed_timestamp or 0,
        level=(log.severity_text or "")[:10],
        logger=(record.instrumentation_scope.name if record.instrumentation_scope else "")[:200],
        message=str(log.body),
        # otelTraceID/otelSpanID: the ids the log format's filter copied onto the record,
        # kept here as columns already.
        attributes=_json_safe({k: v for k, v in log_attributes.items() if not k.startswith("otel")}),
        service=str(service or "")[:100],
    )


def _json_safe(values: dict) -> dict:
    return json.loads(json.dumps(_plain(values), default=str))


class StoreLogExporter(LogRecordExporter):
    """Bulk-inserts the log records written inside a span into the ``telemetry`` database;
    records written outside any span (startup, broker polling) are not kept."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        rows = [log_to_row(record) for record in batch if in_stored_span(record)]
        if not rows:
            return LogRecordExportResult.SUCCESS
        try:
            with untraced():
                LogRecord.objects.bulk_create(rows)
        except Exception:  # never let telemetry take the process down
            logger.exception("could not store %d log records", len(rows))
            connections[LogRecord.objects.db].close()  # reconnect on the next batch
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export writes at once: nothing is held back


def store_spans(rows: Sequence[Span]) -> int:
    """Stores spans read from elsewhere (an uploaded OTLP file); spans already stored are
    left as they are. Returns how many were new."""
    with untraced():
        return save_spans(rows)


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
