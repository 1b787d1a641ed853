"""The store's write path: span, metric and log-record exporters that the instrumentation
loads by dotted path (``TELEMETRY_SPAN_EXPORTER``, ``TELEMETRY_METRICS_EXPORTER``,
``TELEMETRY_LOG_EXPORTER``), and the upload of spans read from elsewhere.

The exporters run in the batch processors' threads; the SDK suppresses instrumentation
while they export, so storing spans creates no spans. Both follow tail retention's
decisions (``telemetry.store.tail``): spans and log records of a dropped trace are
discarded on the way in (an error span revives the trace instead), one lookup per batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import partial

from django.db import connections, models, router
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import TraceFlags

from instrumentation import attributes
from instrumentation.context import untraced
from telemetry.models import LogRecord, Span, SpanMetric
from telemetry.store import caps, tail
from telemetry.store.index import save_spans

logger = logging.getLogger(__name__)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _plain(values) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in (values or {}).items()}


def _identity(span: ReadableSpan) -> dict[str, object]:
    """The columns a stored span and its metric row share: ids, app, name, kind, timing, status."""
    context = span.get_span_context()
    assert context is not None  # every span the SDK ends has one; the type allows None
    service = (span.attributes or {}).get(attributes.SERVICE) or span.resource.attributes.get("service.name")
    start, end = span.start_time or 0, span.end_time or 0
    return {
        "trace_id": _hex(context.trace_id, 32),
        "span_id": _hex(context.span_id, 16),
        "parent_span_id": _hex(span.parent.span_id, 16) if span.parent else "",
        "name": span.name[:300],
        "service": str(service or "unknown")[:100],
        "kind": span.kind.name,
        "start_time_ns": start,
        "duration_ns": end - start,
        "status": span.status.status_code.name,
    }


def span_to_row(span: ReadableSpan) -> Span:
    span_attributes = _plain(span.attributes)
    return Span(
        **_identity(span),
        end_time_ns=span.end_time or 0,
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
        resource=_plain(span.resource.attributes),
        order_id=str(span_attributes.get(attributes.ORDER_ID, ""))[:36],
    )


def _stored(what: str, count: int, model: type[models.Model], write: Callable[[], object]) -> bool:
    """Runs one untraced write of the store; a failure is logged and the connection closed
    (the next batch reconnects), never raised: telemetry must not take the process down."""
    try:
        with untraced():
            write()
    except Exception:
        logger.exception("could not store %d %s", count, what)
        connections[router.db_for_write(model)].close()
        return False
    return True


class StoreSpanExporter(SpanExporter):
    """Stores finished spans, with their search index, in the ``telemetry`` database."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rows = [span_to_row(span) for span in spans]
        if _stored("spans", len(rows), Span, lambda: caps.save_within_caps(rows, save_spans)):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def span_to_metric(span: ReadableSpan) -> SpanMetric:
    """The narrow metric row of a span, sampled or not."""
    context = span.get_span_context()
    assert context is not None  # every span the SDK ends has one; the type allows None
    return SpanMetric(**_identity(span), sampled=context.trace_flags.sampled)


class StoreMetricsExporter(SpanExporter):
    """Stores the metric rows of the spans the instrumentation's ``RequestMetrics`` hands
    over (every request and task run, sampled or not), in bulk, in the ``telemetry``
    database, without tracing the writes."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rows = [span_to_metric(span) for span in spans]
        write = partial(SpanMetric.objects.bulk_create, rows, ignore_conflicts=True)
        if _stored("span metrics", len(rows), SpanMetric, write):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

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
    records written outside any span (startup, broker polling) are not kept, nor those of a
    trace that tail retention dropped."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        rows = [log_to_row(record) for record in batch if in_stored_span(record)]
        if not rows:
            return LogRecordExportResult.SUCCESS
        if _stored("log records", len(rows), LogRecord, lambda: self._write(rows)):
            return LogRecordExportResult.SUCCESS
        return LogRecordExportResult.FAILURE

    @staticmethod
    def _write(rows: list[LogRecord]) -> None:
        gone = tail.dropped({row.trace_id for row in rows}, using=LogRecord.objects.db)
        LogRecord.objects.bulk_create([row for row in rows if row.trace_id not in gone])

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export writes at once: nothing is held back


def store_spans(rows: Sequence[Span]) -> int:
    """Stores spans read from elsewhere (an uploaded OTLP file); spans already stored are
    left as they are. Returns how many were new."""
    with untraced():
        return caps.save_within_caps(rows, save_spans)
