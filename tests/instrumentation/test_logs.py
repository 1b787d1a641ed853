"""Python logging into the store through OpenTelemetry's logs SDK (telemetry/setup.py's
``configure`` and telemetry/store.py's ``StoreLogExporter``): a record written inside a
span is kept with that span; one written outside any span is not."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import RequestFactory
from opentelemetry import trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from instrumentation.logs import SpanLogHandler
from telemetry.models import LogRecord
from telemetry.store.exporter import StoreLogExporter

log = logging.getLogger("tests.telemetry.logs")
tracer = trace.get_tracer(__name__)


class Tap(LogRecordProcessor):
    """Added once to the process's logger provider (processors cannot be removed); hands
    records to ``inner`` only while a test has set one."""

    inner: LogRecordProcessor | None = None

    def on_emit(self, log_record) -> None:
        if self.inner is not None:
            self.inner.on_emit(log_record)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


TAP = Tap()


@pytest.fixture(scope="module", autouse=True)
def _tap() -> None:
    # After the session fixture has configured the process (and its logger provider).
    provider = get_logger_provider()
    assert isinstance(provider, LoggerProvider)  # the SDK's, set up by instrumentation
    if TAP not in provider._multi_log_record_processor._log_record_processors:
        provider.add_log_record_processor(TAP)


@pytest.fixture
def stored_logs():
    """Records reach the store through ``StoreLogExporter`` synchronously for this test."""
    TAP.inner = SimpleLogRecordProcessor(StoreLogExporter())
    yield LogRecord.objects
    TAP.inner = None


@pytest.fixture
def exported_logs():
    """Records as the exporter receives them, for this test."""
    exporter = InMemoryLogRecordExporter()
    TAP.inner = SimpleLogRecordProcessor(exporter)
    yield exporter
    TAP.inner = None


def test_one_handler_sits_on_the_root_logger_at_info():
    """``SpanLogHandler`` from LOGGING, and none from the logging instrumentor, so records
    are not sent twice."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, LoggingHandler)]
    assert [type(h) for h in handlers] == [SpanLogHandler]
    assert handlers[0].level == logging.INFO


def test_a_request_logged_by_django_is_left_out_of_the_record_without_a_warning(exported_logs, caplog):
    """Django logs a 404 with ``extra={"request": request, "status_code": 404}``: the
    status code is kept, the request object (no valid attribute type) is left out, and
    the SDK has nothing to warn about. The record itself keeps its request."""
    request = RequestFactory().get("/api/orders/nope/")
    with caplog.at_level(logging.WARNING), tracer.start_as_current_span("GET"):
        logging.getLogger("django.request").warning(
            "Not Found: %s", request.path, extra={"status_code": 404, "request": request}
        )
    [exported] = exported_logs.get_finished_logs()
    attributes = exported.log_record.attributes
    assert attributes["status_code"] == 404
    assert "request" not in attributes
    assert [r.name for r in caplog.records] == ["django.request"]
    assert caplog.records[0].request is request


@pytest.mark.django_db(databases="__all__")
def test_a_record_written_inside_a_span_is_stored_with_that_span(stored_logs):
    """Its trace and span ids come from the record's context; level, logger, message, the span's app."""
    with tracer.start_as_current_span("finalize") as span:
        span.set_attribute("threadline.service", "orders-worker")
        log.warning("finalize of order %s failed (attempt %d)", "o-1", 2)
    context = span.get_span_context()
    [record] = stored_logs.all()
    assert record.trace_id == format(context.trace_id, "032x")
    assert record.span_id == format(context.span_id, "016x")
    assert (record.level, record.logger, record.service) == ("WARN", "tests.telemetry.logs", "orders-worker")
    assert record.message == "finalize of order o-1 failed (attempt 2)"
    assert record.time_ns > 0


@pytest.mark.django_db(databases="__all__")
def test_a_logged_exception_keeps_its_type_message_and_stack_trace(stored_logs):
    """``logger.exception`` inside a span: the exception's type, message and stack trace are kept."""
    with tracer.start_as_current_span("compensate"):
        try:
            raise ConnectionError("payments unreachable")
        except ConnectionError:
            log.exception("compensation failed")
    [record] = stored_logs.all()
    assert record.level == "ERROR"
    assert record.attributes["exception.type"] == "ConnectionError"
    assert record.attributes["exception.message"] == "payments unreachable"
    assert "raise ConnectionError" in record.attributes["exception.stacktrace"]


@pytest.mark.django_db(databases="__all__")
def test_records_outside_a_span_below_info_or_in_an_unsampled_span_are_not_stored(stored_logs):
    """Startup chatter and broker polling (no span), debug detail, and spans the sampler
    dropped (their trace is not in the store) leave no rows."""
    log.warning("outside any span")
    with tracer.start_as_current_span("request"):
        log.debug("detail")
    unsampled = NonRecordingSpan(
        SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(0))
    )
    with trace.use_span(unsampled):
        log.warning("in a dropped span")
    assert not stored_logs.exists()


@pytest.mark.django_db(databases="__all__")
def test_in_tests_the_store_gets_nothing_unless_a_test_asks(exported_logs):
    """``configure(exporter=...)`` (the test process) adds no store exporter: only what a
    test adds to the logger provider sees the records."""
    TAP.inner = None
    with tracer.start_as_current_span("request"):
        log.warning("not stored")
    assert not LogRecord.objects.exists()
    assert exported_logs.get_finished_logs() == ()


@pytest.mark.django_db(databases="__all__")
def test_storing_log_records_creates_no_spans(spans, exported_logs):
    """The exporter suppresses instrumentation: its INSERT is not traced into the span it
    is storing logs of, even when it runs inside that span."""
    with tracer.start_as_current_span("request"):
        log.warning("stored")
        spans.clear()
        StoreLogExporter().export(exported_logs.get_finished_logs())
    assert LogRecord.objects.count() == 1
    assert [span.name for span in spans.get_finished_spans()] == ["request"]


def test_a_record_is_named_for_the_app_of_its_span(exported_logs):
    """Not the process's service: a record written in the payments API of the one web
    process belongs to payments."""
    with tracer.start_as_current_span("authorize") as span:
        span.set_attribute("threadline.service", "payments")
        log.info("authorized")
    [record] = exported_logs.get_finished_logs()
    assert record.log_record.attributes["threadline.service"] == "payments"
    assert record.resource.attributes["service.name"] == "shop"


def test_the_console_prints_records_redacted():
    """The console handler of LOGGING (stdout/stderr, which container log collection ships)
    prints an email, a bearer token, a card token and a card number as ``[redacted]``, in
    the message, its arguments and an exception's traceback alike; the record itself is
    left as it was for the other handlers."""
    (console,) = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    printed = io.StringIO()
    previous = console.setStream(printed)  # type: ignore[attr-defined]  # a StreamHandler
    try:
        log.warning("checkout for %s with %s", "ada@example.com", "tok_visa4242")
        log.warning("call failed: Authorization: Bearer s3cr3t-service-token-value")
        try:
            raise ValueError("card 4242 4242 4242 4242 of bob@example.org refused")
        except ValueError:
            log.exception("payment failed")
    finally:
        console.setStream(previous)  # type: ignore[attr-defined]
    text = printed.getvalue()
    for secret in ("ada@example.com", "tok_visa4242", "s3cr3t-service-token", "4242 4242", "bob@example.org"):
        assert secret not in text, secret
    assert text.count("[redacted]") >= 5
    assert "checkout for [redacted] with [redacted]" in text
    assert "ValueError: card [redacted] of [redacted] refused" in text


@pytest.mark.django_db(databases="__all__")
def test_celerys_success_line_is_not_stored_but_its_failures_are(exported_logs):
    """A task run's "succeeded in" line repeats its span; a retry or a failure says more."""
    celery_trace = logging.getLogger("celery.app.trace")
    with tracer.start_as_current_span("run/orders.finalize_order"):
        celery_trace.info("Task orders.finalize_order[1] succeeded in 0.04s: None")
        celery_trace.warning("Task orders.finalize_order[1] retry: Retry in 1s")
        celery_trace.error("Task orders.finalize_order[1] raised unexpected: OperationalError()")
    bodies = [record.log_record.body for record in exported_logs.get_finished_logs()]
    assert bodies == [
        "Task orders.finalize_order[1] retry: Retry in 1s",
        "Task orders.finalize_order[1] raised unexpected: OperationalError()",
    ]
