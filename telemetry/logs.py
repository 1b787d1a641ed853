"""Log correlation: every log record carries the trace and span id it was written in."""

import logging

from opentelemetry import trace


class TraceContextFilter(logging.Filter):
    """Fills ``otelTraceID``/``otelSpanID`` when the logging instrumentor has not (a
    process where tracing is off), so the shared log format never fails."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "otelTraceID"):
            context = trace.get_current_span().get_span_context()
            record.otelTraceID = format(context.trace_id, "032x") if context.is_valid else "0"
            record.otelSpanID = format(context.span_id, "016x") if context.is_valid else "0"
        return True
