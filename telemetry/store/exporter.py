"""The store's write path: span, metric and log-record exporters that the instrumentation
loads by dotted path (``TELEMETRY_SPAN_EXPORTER``, ``TELEMETRY_METRICS_EXPORTER``,
``TELEMETRY_LOG_EXPORTER``), and the upload of spans read from elsewhere.

The exporters run in the batch processors' threads; the SDK suppresses instrumentation
while they export, so storing spans creates no spans. Both follow tail retention's
decisions (``telemetry.store.tail``): spans and log records of a dropped trace are
discarded on the way in (an error span revives the trace instead), one lookup per batch.

They run in the process that made the spans, holding its GIL while they convert a batch:
rows are plain tuples (``SpanRow``, ``SpanMetricRow``, ``LogRecordRow``), never model
instances, and are written by batched INSERTs built once (``telemetry.store.bulk``).
``span_to_row`` still gives a ``Span`` of the same values, for tests and tools.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

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
from telemetry.store.bulk import BulkInsert
from telemetry.store.index import SpanRow, save_spans

logger = logging.getLogger(__name__)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _plain(values) -> dict:
    """Attributes as a plain dict, the SDK's tuples as lists. The SDK's mappings copy
    themselves at C speed (``copy``), where iterating one goes through the ``Mapping`` ABC
    key by key: that cost more than the rest of a span's conversion."""
    copy = getattr(values, "copy", None)
    plain = copy() if copy is not None else dict(values or {})
    for key, value in plain.items():
        if isinstance(value, tuple):
            plain[key] = list(value)  # replacing a value, not adding a key: safe while iterating
    return plain


def _identity(
    span: ReadableSpan, span_attributes: Mapping
) -> tuple[str, str, str, str, str, str, int, int, int, str]:
    """The columns a stored span and its metric row share: ids, name, app, kind, start,
    end, duration and status (``SpanRow``'s first ten fields)."""
    context = span.get_span_context()
    assert context is not None  # every span the SDK ends has one; the type allows None
    service = span_attributes.get(attributes.SERVICE) or span.resource.attributes.get("service.name")
    start, end = span.start_time or 0, span.end_time or 0
    return (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        format(span.parent.span_id, "016x") if span.parent else "",
        span.name[:300],
        str(service or "unknown")[:100],
        span.kind.name,
        start,
        end,
        end - start,
        span.status.status_code.name,
    )


_resources: dict[int, tuple[object, dict]] = {}  # by id: the Resource and its plain copy


def _resource(span: ReadableSpan) -> dict:
    """The span's resource as a plain dict, one per process's ``Resource`` (its spans share
    it, so the store encodes it once per batch): shared between rows, never to be changed."""
    resource = span.resource
    cached = _resources.get(id(resource))
    if cached is None or cached[0] is not resource:
        if len(_resources) > 64:  # resources are few and long-lived; tools may make more
            _resources.clear()
        cached = _resources[id(resource)] = (resource, _plain(resource.attributes))
    return cached[1]


def span_values(span: ReadableSpan) -> SpanRow:
    """A finished span as the store writes it."""
    span_attributes = _plain(span.attributes)
    return SpanRow(
        *_identity(span, span_attributes),
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
        resource=_resource(span),
        order_id=str(span_attributes.get(attributes.ORDER_ID, ""))[:36],
    )


def span_to_row(span: ReadableSpan) -> Span:
    """The same values as an unsaved ``Span``, with a resource of its own to change."""
    values = span_values(span)._asdict()
    return Span(**{**values, "resource": dict(values["resource"])})


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
        rows = [span_values(span) for span in spans]
        if _stored("spans", len(rows), Span, lambda: caps.save_within_caps(rows, save_spans)):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


class SpanMetricRow(NamedTuple):
    """A ``SpanMetric`` row's values, in its INSERT's order."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: str
    start_time_ns: int
    duration_ns: int
    status: str
    sampled: bool


# A batch exported again after a failure meets its rows already there: they are skipped.
SPAN_METRIC_INSERT = BulkInsert(SpanMetric, SpanMetricRow._fields, ignore_conflicts=True)


def span_metric_values(span: ReadableSpan) -> SpanMetricRow:
    """The narrow metric row of a span, sampled or not."""
    context = span.get_span_context()
    assert context is not None  # every span the SDK ends has one; the type allows None
    identity = _identity(span, span.attributes or {})
    trace_id, span_id, parent_span_id, name, service, kind, start, _end, duration, status = identity
    return SpanMetricRow(
        trace_id,
        span_id,
        parent_span_id,
        name,
        service,
        kind,
        start,
        duration,
        status,
        context.trace_flags.sampled,
    )


class StoreMetricsExporter(SpanExporter):
    """Stores the metric rows of the spans the instrumentation's ``RequestMetrics`` hands
    over (every request and task run, sampled or not), in bulk, in the ``telemetry``
    database, without tracing the writes."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rows = [span_metric_values(span) for span in spans]
        write = lambda: SPAN_METRIC_INSERT.run(rows, using=router.db_for_write(SpanMetric))  # noqa: E731
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


class LogRecordRow(NamedTuple):
    """A ``LogRecord`` row's values, in its INSERT's order."""

    trace_id: str
    span_id: str
    time_ns: int
    level: str
    logger: str
    message: str
    attributes: dict
    service: str


LOG_RECORD_INSERT = BulkInsert(LogRecord, LogRecordRow._fields)


def log_values(record: ReadableLogRecord) -> LogRecordRow:
    log = record.log_record
    log_attributes = dict(log.attributes or {})
    service = log_attributes.pop(attributes.SERVICE, None) or record.resource.attributes.get("service.name")
    return LogRecordRow(
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
        rows = [log_values(record) for record in batch if in_stored_span(record)]
        if not rows:
            return LogRecordExportResult.SUCCESS
        if _stored("log records", len(rows), LogRecord, lambda: self._write(rows)):
            return LogRecordExportResult.SUCCESS
        return LogRecordExportResult.FAILURE

    @staticmethod
    def _write(rows: list[LogRecordRow]) -> None:
        db = router.db_for_write(LogRecord)
        gone = tail.dropped({row.trace_id for row in rows}, using=db)
        LOG_RECORD_INSERT.run([row for row in rows if row.trace_id not in gone], using=db)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export writes at once: nothing is held back


def store_spans(rows: Sequence[Span | SpanRow]) -> int:
    """Stores spans read from elsewhere (an uploaded OTLP file); spans already stored are
    left as they are. Returns how many were new."""
    with untraced():
        return caps.save_within_caps(rows, save_spans)
