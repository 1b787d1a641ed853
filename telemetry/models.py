"""The embedded trace store: one row per finished span, in the ``telemetry`` database."""

from django.db import models


class Span(models.Model):
    trace_id = models.CharField(max_length=32, db_index=True)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True, default="")
    name = models.CharField(max_length=300)
    service = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    start_time_ns = models.BigIntegerField()
    end_time_ns = models.BigIntegerField()
    duration_ns = models.BigIntegerField()
    status = models.CharField(max_length=10)  # UNSET, OK or ERROR
    status_message = models.TextField(blank=True, default="")
    attributes = models.JSONField(default=dict)
    events = models.JSONField(default=list)
    links = models.JSONField(default=list)
    resource = models.JSONField(default=dict)
    # Copied from the ``order.id`` attribute so an order's trace is one index lookup away.
    order_id = models.CharField(max_length=36, blank=True, default="", db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="span_unique_in_trace"),
        ]
        indexes = [
            models.Index(fields=["service", "start_time_ns"], name="span_service_start"),
            models.Index(fields=["start_time_ns"], name="span_start"),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.name} ({self.span_id})"


class LogRecord(models.Model):
    """A log record emitted inside a span, so the viewer shows it with the span."""

    trace_id = models.CharField(max_length=32, db_index=True)
    span_id = models.CharField(max_length=16)
    time_ns = models.BigIntegerField()
    level = models.CharField(max_length=10)
    logger = models.CharField(max_length=200)
    message = models.TextField()
    attributes = models.JSONField(default=dict)
    service = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["trace_id", "span_id"], name="log_trace_span")]

    def __str__(self) -> str:
        return f"{self.level} {self.logger}: {self.message[:60]}"
