"""Span and log-record processors: which app a span or record belongs to, the order's
baggage copied onto spans, which spans are noise, and the per-app ``service.name`` the OTLP
export carries."""

from __future__ import annotations

from urllib.parse import urlsplit

from opentelemetry import baggage, trace
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind

from instrumentation import attributes


class ServiceAttribution(SpanProcessor):
    """Names the app each span belongs to (``threadline.service``), so one server shows
    as the services ``shop``, ``orders``, ``inventory`` and ``payments``.

    A server span takes the app whose URL prefix it hit; every other span inherits its
    local parent's app; a span with no local parent takes the process's service.
    """

    def __init__(self, default_service: str, service_by_path: dict[str, str]) -> None:
        self.default_service = default_service
        self.service_by_path = service_by_path

    def on_start(self, span, parent_context=None) -> None:
        span.set_attribute(attributes.SERVICE, self._service_for(span, parent_context))

    def _service_for(self, span, parent_context) -> str:
        if span.kind == SpanKind.SERVER:
            path = _request_path(span.attributes)
            for prefix, service in self.service_by_path.items():
                if path.startswith(prefix):
                    return service
            return self.default_service
        parent = trace.get_current_span(parent_context)
        parent_attributes = getattr(parent, "attributes", None)
        if parent_attributes and not parent.get_span_context().is_remote:
            return parent_attributes.get(attributes.SERVICE, self.default_service)
        return self.default_service


class BaggageAttributes(SpanProcessor):
    """Copies the order's baggage (``customer.tier``, ``order.id``, see
    ``context.order_baggage``) onto each span as it starts, so every span of an order, in
    every process, says whose order it is and at what tier, and the tail sampler can scale
    by the tier.

    Only those two keys, and short values: baggage is written by whoever calls, and an
    arbitrary entry must not become a span attribute. An attribute the span was started
    with wins over the baggage.
    """

    KEYS = (attributes.CUSTOMER_TIER, attributes.ORDER_ID)
    MAX_LENGTH = 64  # a tier name or a UUID; anything longer is not ours

    def on_start(self, span, parent_context=None) -> None:
        entries = baggage.get_all(parent_context)
        for key in self.KEYS:
            value = entries.get(key)
            if isinstance(value, str) and 0 < len(value) <= self.MAX_LENGTH and key not in span.attributes:
                span.set_attribute(key, value)


def _request_path(span_attributes) -> str:
    for key in ("url.path", "http.target"):
        if span_attributes.get(key):
            return span_attributes[key]
    if span_attributes.get("http.url"):
        return urlsplit(span_attributes["http.url"]).path
    return "/" + span_attributes.get("http.route", "")


class LogServiceAttribution(LogRecordProcessor):
    """Names the app a log record belongs to: the app of the span it was written in."""

    def on_emit(self, log_record) -> None:
        span = trace.get_current_span(log_record.log_record.context)
        service = (getattr(span, "attributes", None) or {}).get(attributes.SERVICE)
        if service:
            log_record.log_record.attributes[attributes.SERVICE] = service

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class DropNoise(SpanProcessor):
    """Passes finished spans on to ``inner`` except noise: the ``SELECT QUOTE(?)`` that
    Django's SQLite backend runs only to log SQL in DEBUG mode."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span, parent_context=None) -> None:
        self.inner.on_start(span, parent_context)

    def on_end(self, span) -> None:
        if not str(span.attributes.get("db.statement", "")).startswith("SELECT QUOTE("):
            self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class PerServiceResource(SpanExporter):
    """Hands spans to ``inner`` with ``service.name`` set to the app each span belongs to,
    so Jaeger or Tempo show ``shop``, ``orders``, ``inventory`` and ``payments`` as the
    separate services they are, though one process made the spans."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self._resources: dict[tuple[int, str], Resource] = {}

    def export(self, spans):
        return self.inner.export([self._restamped(span) for span in spans])

    def _restamped(self, span: ReadableSpan) -> ReadableSpan:
        service = (span.attributes or {}).get(attributes.SERVICE)
        if not service or not isinstance(service, str):
            return span
        key = (id(span.resource), service)
        if key not in self._resources:
            self._resources[key] = span.resource.merge(Resource({"service.name": service}))
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=self._resources[key],
            attributes=span.attributes,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
