"""Sets up OpenTelemetry for a process, once: the SDK, the exporters, the request metrics
and every instrumentor (Django, requests, Celery, sqlite3, psycopg, Redis, logging). Every
exporter is handed redacted copies (``privacy``), and the SDK's size limits are set.

Called from ``manage.py`` (the serving process only, never the autoreloader's parent),
``config/wsgi.py``/``asgi.py`` and each Celery worker child (``worker_process_init``).
Exporters are named by settings and loaded by dotted path (the embedded store's by
default), so this package imports no store. Domain code never imports this module.
"""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings
from django.utils.module_loading import import_string
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
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from instrumentation import compat, cpu, edge
from instrumentation.privacy import (
    RedactingLogProcessor,
    RedactingSpanExporter,
    Redactor,
    log_record_limits,
    span_limits,
)
from instrumentation.processors import (
    BaggageAttributes,
    LogServiceAttribution,
    PerServiceResource,
    RequestInstruments,
    RequestMetrics,
    ServiceAttribution,
)
from instrumentation.sampling import build_sampler
from instrumentation.statements import ExportFilter, fold_before_span

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_provider: TracerProvider | None = None
_log_provider: LoggerProvider | None = None
_meter_provider: MeterProvider | None = None


def configure(service: str | None = None, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Set up tracing for this process; later calls return the same provider.

    ``exporter`` replaces the embedded store (tests pass an in-memory one and get a
    synchronous processor); log records then reach only the processors a test adds to the
    global logger provider, and no metric rows are stored (tests build them with
    ``synthetic.builders``; the flow tests' processes store them).
    """
    global _provider
    with _lock:
        if _provider is not None or not settings.TELEMETRY_ENABLED:
            return _provider
        import django

        django.setup(set_prefix=False)  # the exporters (Django models) need the app registry
        service = service or settings.OTEL_SERVICE_NAME
        # Head sampling (instrumentation/sampling.py): Threadline's rules, or else the
        # standard OTEL_TRACES_SAMPLER, read from the settings; a bad value stops here.
        sampler = build_sampler(
            rules=settings.TELEMETRY_SAMPLING_RULES,
            rate=settings.TELEMETRY_SAMPLE_RATE,
            standard=settings.OTEL_TRACES_SAMPLER,
            standard_arg=settings.OTEL_TRACES_SAMPLER_ARG,
        )
        provider = TracerProvider(
            resource=Resource.create(
                {
                    "service.name": service,
                    "service.namespace": "threadline",
                    # THREADLINE_VERSION (a setting: the project has no package version)
                    "service.version": settings.THREADLINE_VERSION,
                    "process.pid": os.getpid(),
                }
            ),
            sampler=sampler,
            span_limits=span_limits(),
        )
        # Every exporter gets redacted copies (instrumentation/privacy.py): no personal data
        # reaches the store, the metric rows or OTLP.
        redactor = Redactor.from_settings()
        provider.add_span_processor(
            ServiceAttribution(
                service, settings.TELEMETRY_SERVICE_BY_PATH, settings.TELEMETRY_WORKER_SERVICE_BY_TASK
            )
        )
        provider.add_span_processor(BaggageAttributes())
        provider.add_span_processor(edge.CallerLink())  # the link to an untrusted caller's context
        if metrics := _request_metrics(provider.resource, store=exporter is None, redactor=redactor):
            provider.add_span_processor(metrics)
        export_filter = ExportFilter(
            _exporting(exporter, redactor),
            summarise=settings.TELEMETRY_SUMMARISE_STATEMENTS,
            slow_ms=settings.TELEMETRY_SLOW_STATEMENT_MS,
        )
        provider.add_span_processor(export_filter)
        trace.set_tracer_provider(provider)
        _configure_logs(provider.resource, store=exporter is None, redactor=redactor)
        _instrument(provider)
        # A fast statement under an open parent is counted there without being made a span.
        fold_before_span(export_filter if export_filter.summarise else None)
        _provider = provider
        return provider


def _exporting(exporter: SpanExporter | None, redactor: Redactor) -> list[SpanProcessor]:
    """The processors that export finished spans, each through the redaction: ``exporter``
    alone (tests, synchronous), else the store named by ``TELEMETRY_SPAN_EXPORTER`` and,
    with an endpoint, OTLP."""
    if exporter is not None:
        return [SimpleSpanProcessor(RedactingSpanExporter(exporter, redactor))]
    exporting: list[SpanProcessor] = []
    if settings.TELEMETRY_SPAN_EXPORTER:
        store = RedactingSpanExporter(import_string(settings.TELEMETRY_SPAN_EXPORTER)(), redactor)
        exporting.append(
            BatchSpanProcessor(store, max_export_batch_size=settings.OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
        )
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        otlp = RedactingSpanExporter(PerServiceResource(OTLPSpanExporter()), redactor)
        exporting.append(BatchSpanProcessor(otlp))
    return exporting


def _request_metrics(resource: Resource, store: bool, redactor: Redactor) -> RequestMetrics | None:
    """Every request and task run, sampled or not, counted: as metric rows through
    ``TELEMETRY_METRICS_EXPORTER`` and, with an OTLP endpoint, as OTLP metrics too."""
    global _meter_provider
    exporter = None
    if store and settings.TELEMETRY_METRICS_EXPORTER:
        exporter = RedactingSpanExporter(
            import_string(settings.TELEMETRY_METRICS_EXPORTER)(), redactor, identity_only=True
        )
    record = None
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        _meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        record = RequestInstruments(_meter_provider.get_meter(__name__))
    if exporter is None and record is None:
        return None
    return RequestMetrics(exporter, record=record)


def _configure_logs(resource: Resource, store: bool, redactor: Redactor) -> None:
    """Python logging into the store, through the logs SDK: ``SpanLogHandler`` (level INFO,
    on the root logger through LOGGING) sends records to this provider; those written
    inside a span are stored with it. Records are redacted first, before any processor exports."""
    global _log_provider
    _log_provider = LoggerProvider(resource=resource, log_record_limits=log_record_limits())
    _log_provider.add_log_record_processor(RedactingLogProcessor(redactor))
    _log_provider.add_log_record_processor(LogServiceAttribution())
    if store and settings.TELEMETRY_LOG_EXPORTER:
        exporter = import_string(settings.TELEMETRY_LOG_EXPORTER)()
        _log_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    set_logger_provider(_log_provider)


def _instrument(provider: TracerProvider) -> None:
    set_global_response_propagator(TraceResponsePropagator())
    edge.guard_incoming_context()  # before Django's instrumentation, which extracts through it
    DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=settings.TELEMETRY_EXCLUDED_URLS)
    compat.patch_django_middleware()  # a non-Latin-1 path is a 500 without it
    RequestsInstrumentor().instrument(tracer_provider=provider)
    cpu.instrument_celery(lambda: CeleryInstrumentor().instrument(tracer_provider=provider))
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
    if _meter_provider is not None:
        _meter_provider.shutdown()
