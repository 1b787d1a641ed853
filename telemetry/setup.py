"""Sets up OpenTelemetry for a process, once: the SDK, the span store and every
instrumentor (Django, requests, Celery, sqlite3, psycopg, Redis, logging).

Called from ``manage.py`` (the serving process only, never the autoreloader's parent),
``config/wsgi.py``/``asgi.py`` and each Celery worker child (``worker_process_init``).
Domain code never imports this module; it uses ``opentelemetry.trace`` only.
"""

from __future__ import annotations

import logging
import os
import threading
from urllib.parse import urlsplit

from django.conf import settings
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import SpanKind

from telemetry import attributes

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_provider: TracerProvider | None = None
_log_provider: LoggerProvider | None = None


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
        service = span.attributes.get(attributes.SERVICE)
        if not service:
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


# Task runs that watch the store (alert evaluation): tracing them would feed the store
# the very spans it is watching, every minute.
UNTRACED_ROOTS = frozenset({"run/telemetry.evaluate_alerts", "run/telemetry.prune_traces"})


class DropBackgroundRoots(Sampler):
    """Root sampler that drops database and Redis client spans without a parent: a
    process's broker polling and housekeeping queries, not part of any request or task.
    An HTTP call without a parent (a script driving the shop) still starts a trace.
    Telemetry's own beat task runs (``UNTRACED_ROOTS``) are dropped too."""

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        if name in UNTRACED_ROOTS:
            return SamplingResult(Decision.DROP)
        attributes = attributes or {}
        is_http = "http.method" in attributes or "http.request.method" in attributes
        if kind == SpanKind.CLIENT and not is_http:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "DropBackgroundRoots"


def configure(service: str | None = None, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Set up tracing for this process; later calls return the same provider.

    ``exporter`` replaces the embedded store (tests pass an in-memory one and get a
    synchronous processor); log records then reach only the processors a test adds to the
    global logger provider.
    """
    global _provider
    with _lock:
        if _provider is not None or not settings.TELEMETRY_ENABLED:
            return _provider
        import django

        django.setup(set_prefix=False)  # the store exporter needs the app registry
        service = service or settings.OTEL_SERVICE_NAME
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": service, "service.namespace": "threadline", "process.pid": os.getpid()}
            ),
            sampler=ParentBased(root=DropBackgroundRoots()),
        )
        provider.add_span_processor(ServiceAttribution(service, settings.TELEMETRY_SERVICE_BY_PATH))
        if exporter is not None:
            provider.add_span_processor(DropNoise(SimpleSpanProcessor(exporter)))
        else:
            from telemetry.store import StoreSpanExporter

            provider.add_span_processor(DropNoise(BatchSpanProcessor(StoreSpanExporter())))
        if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(DropNoise(BatchSpanProcessor(PerServiceResource(OTLPSpanExporter()))))
        trace.set_tracer_provider(provider)
        _configure_logs(provider.resource, store=exporter is None)
        _instrument(provider)
        _provider = provider
        return provider


def _configure_logs(resource: Resource, store: bool) -> None:
    """Python logging into the store, through the logs SDK: ``SpanLogHandler`` (level INFO,
    on the root logger through LOGGING) sends records to this provider; those written
    inside a span are stored with it."""
    global _log_provider
    _log_provider = LoggerProvider(resource=resource)
    _log_provider.add_log_record_processor(LogServiceAttribution())
    if store:
        from telemetry.store import StoreLogExporter

        _log_provider.add_log_record_processor(BatchLogRecordProcessor(StoreLogExporter()))
    set_logger_provider(_log_provider)


def _instrument(provider: TracerProvider) -> None:
    set_global_response_propagator(TraceResponsePropagator())
    DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=settings.TELEMETRY_EXCLUDED_URLS)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)
    SQLite3Instrumentor().instrument(tracer_provider=provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, enable_commenter=False)
    RedisInstrumentor().instrument(tracer_provider=provider)
    # Only the trace and span ids on each record: the handler that sends records to the
    # store is ``SpanLogHandler``, which Django's LOGGING puts on the root logger.
    LoggingInstrumentor().instrument(
        tracer_provider=provider,
        set_logging_format=False,
        enable_log_auto_instrumentation=False,
    )


def configure_for_manage_py(argv: list[str]) -> None:
    """Trace the process that does the work: under runserver's autoreloader that is the
    child (``RUN_MAIN=true``), not the parent that only watches files."""
    command = argv[1] if len(argv) > 1 else ""
    if command in {"makemigrations", "migrate", "test", "shell", "dbshell", "check"}:
        return
    if command == "runserver" and "--noreload" not in argv and os.environ.get("RUN_MAIN") != "true":
        return
    configure()


def configure_for_worker() -> None:
    configure(service=settings.TELEMETRY_WORKER_SERVICE)


def shutdown() -> None:
    """Flush and stop this process's providers (a worker child about to exit)."""
    if _provider is not None:
        _provider.shutdown()
    if _log_provider is not None:
        _log_provider.shutdown()
