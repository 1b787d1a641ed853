"""Log correlation, redacted console lines, and log records into the span store.

Every record carries the trace and span id it was written in (``TraceContextFilter``);
the console (stdout/stderr, what container log collection ships) prints each line through
``RedactingFormatter``; and ``SpanLogHandler``, on the root logger through Django's
``LOGGING``, hands records of level INFO and up to OpenTelemetry's logs SDK, which stores
those written inside a span with that span (redacted there by ``RedactingLogProcessor``),
except the lines the spans already say (``SaidBySpans``)."""

import logging
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler

from instrumentation.privacy import redact_text

_PRIMITIVES = (bool, str, bytes, int, float)


class TraceContextFilter(logging.Filter):
    """Fills ``otelTraceID``/``otelSpanID`` when the logging instrumentor has not (a
    process where tracing is off), so the shared log format never fails."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "otelTraceID"):
            context = trace.get_current_span().get_span_context()
            record.otelTraceID = format(context.trace_id, "032x") if context.is_valid else "0"
            record.otelSpanID = format(context.span_id, "016x") if context.is_valid else "0"
        return True


class SaidBySpans(logging.Filter):
    """Keeps out of the span store the records that only repeat a span: Celery's "Task
    orders.finalize_order[…] succeeded in 0.04 s: None", one per task run (six per order),
    is the run's span, its name, id, duration and outcome, again; storing it cost as much
    as a span. The console still prints it. A task's failures and retries are WARNING and
    ERROR lines, and are kept."""

    REPEATED = frozenset({("celery.app.trace", logging.INFO)})

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.name, record.levelno) not in self.REPEATED


class RedactingFormatter(logging.Formatter):
    """A formatter whose lines carry no email, card token or number, credential or cookie
    (``privacy.redact_text``): the message with its arguments, an exception's traceback and
    a stack, all redacted as one line. A formatter rather than a filter: on Python 3.11 a
    filter can only edit the record in place, which every later handler of the logger would
    then get edited (this one leaves the record as it was)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class SpanLogHandler(LoggingHandler):
    """The logging instrumentor's handler, minus the extras a log record cannot hold.

    Django logs every 4xx and 5xx with ``extra={"request": request}``: passed on, the
    request object made the SDK warn about an invalid attribute type on every such
    response. Such values are left out (the record's span already holds the request);
    the record itself is not changed, so Django's admin mails still get the request.

    It is declared in ``LOGGING`` rather than left to the instrumentor, so Django's own
    logging setup puts it in place in every process; where tracing is not configured,
    the API's no-op logger provider drops what it is given.
    """

    def _get_attributes(self, record: logging.LogRecord):
        attributes, event_name = super()._get_attributes(record)
        return {key: value for key, value in attributes.items() if _is_attribute_value(value)}, event_name


def _is_attribute_value(value: object) -> bool:
    """What OpenTelemetry's log attributes accept: a primitive, or a list or mapping of them."""
    if value is None or isinstance(value, _PRIMITIVES):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_attribute_value(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and _is_attribute_value(item) for key, item in value.items())
    return False
