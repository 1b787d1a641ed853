"""Span and log-record processors: which app a span or record belongs to, the order's
baggage copied onto spans, the per-app ``service.name`` the OTLP
export carries, and the metrics of every request and task run, sampled or not."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from opentelemetry import baggage, trace
from opentelemetry.metrics import Meter
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind

from instrumentation import attributes, names
from instrumentation.context import untraced
from instrumentation.copies import copy_of

logger = logging.getLogger(__name__)


class ServiceAttribution(SpanProcessor):
    """Names the app each span belongs to (``threadline.service``), so one server shows
    as the services ``shop``, ``orders``, ``inventory`` and ``payments``.

    A server span takes the app whose URL prefix it hit; a task's run (a consumer span
    ``run/<task>``) the worker of the app whose prefix its task name has, so one worker
    process consuming every queue still shows ``orders-worker``, ``payments-worker`` and
    ``inventory-worker``; every other span inherits its local parent's app; a span with no
    local parent takes the process's service.
    """

    def __init__(
        self,
        default_service: str,
        service_by_path: dict[str, str],
        service_by_task: dict[str, str] | None = None,
    ) -> None:
        self.default_service = default_service
        self.service_by_path = service_by_path
        self.service_by_task = service_by_task or {}

    def on_start(self, span, parent_context=None) -> None:
        span.set_attribute(attributes.SERVICE, self._service_for(span, parent_context))

    def _service_for(self, span, parent_context) -> str:
        if span.kind == SpanKind.SERVER:
            path = _request_path(span.attributes)
            for prefix, service in self.service_by_path.items():
                if path.startswith(prefix):
                    return service
            return self.default_service
        if span.kind == SpanKind.CONSUMER and span.name.startswith(names.RUN_PREFIX):
            task = span.name.removeprefix(names.RUN_PREFIX)
            for prefix, service in self.service_by_task.items():
                if task.startswith(prefix):
                    return service
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
        return copy_of(span, resource=self._resources[key])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


# What a service is asked to do (counted), and what asks it (the services graph's callers).
REQUEST_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
HTTP_METHOD_KEYS = ("http.request.method", "http.method")


def is_metered(span: ReadableSpan) -> bool:
    """Whether a span gives a metric row: a request or task run, or what leads to one (an
    HTTP call, a task publish). Database and Redis calls and inner steps do not."""
    if span.kind in REQUEST_KINDS or span.kind == SpanKind.PRODUCER:
        return True
    span_attributes = span.attributes or {}
    return span.kind == SpanKind.CLIENT and any(key in span_attributes for key in HTTP_METHOD_KEYS)


class RequestInstruments:
    """A counter and a duration histogram of requests and task runs per service and
    operation, for the OTLP metrics export (the span metrics a Collector's ``spanmetrics``
    connector would derive, but from every request, sampled or not)."""

    def __init__(self, meter: Meter) -> None:
        self.calls = meter.create_counter(
            "threadline.calls", unit="{call}", description="requests and task runs"
        )
        self.duration = meter.create_histogram(
            "threadline.duration", unit="ms", description="duration of requests and task runs"
        )

    def __call__(self, span: ReadableSpan) -> None:
        labels = {
            "service.name": str((span.attributes or {}).get(attributes.SERVICE, "")),
            "span.name": span.name,
            "span.kind": span.kind.name,
            "status.code": span.status.status_code.name,
        }
        self.calls.add(1, labels)
        self.duration.record(((span.end_time or 0) - (span.start_time or 0)) / 1e6, labels)


class RequestMetrics(SpanProcessor):
    """Hands every ended metered span (``is_metered``), sampled or not, to ``exporter`` in
    batches, and records requests and task runs on ``record`` (the OTLP instruments) as
    they end.

    The head sampler returns RECORD_ONLY for the requests and task runs of traces it does
    not keep: they reach processors but the SDK's batch processor skips them, so this one
    batches on its own. The queue is bounded: when the exporter falls behind, spans are
    dropped and counted (``dropped``), never waited for, so a request is never held up.
    A worker thread exports every ``delay_s`` or at ``batch_size`` spans; ``force_flush``
    and ``shutdown`` export what is left.
    """

    def __init__(
        self,
        exporter: SpanExporter | None,
        *,
        record: Callable[[ReadableSpan], None] | None = None,
        max_queue_size: int = 8192,
        batch_size: int = 512,
        delay_s: float = 1.0,
    ) -> None:
        self.exporter = exporter
        self.record = record
        self.max_queue_size = max_queue_size
        self.batch_size = batch_size
        self.delay_s = delay_s
        self.dropped = 0
        self._queue: deque[ReadableSpan] = deque()
        self._stopped = False
        self._start_worker()
        if exporter is not None and hasattr(os, "register_at_fork"):
            # A forked child has no worker thread, and its parent's spans are not its own.
            restart = weakref.WeakMethod(self._start_worker)

            def after_in_child() -> None:
                if method := restart():
                    method()

            os.register_at_fork(after_in_child=after_in_child)

    def _start_worker(self) -> None:
        self._queue.clear()
        self._lock = threading.Lock()  # guards the queue's bound and the drop count
        self._export_lock = threading.Lock()  # one export at a time
        self._wake = threading.Event()
        if self.exporter is not None:
            threading.Thread(target=self._work, name="RequestMetrics", daemon=True).start()

    def on_end(self, span: ReadableSpan) -> None:
        if not is_metered(span):
            return
        if self.record is not None and span.kind in REQUEST_KINDS:
            self.record(span)
        if self.exporter is None or self._stopped:
            return
        with self._lock:
            if len(self._queue) >= self.max_queue_size:
                self.dropped += 1
                return
            self._queue.append(span)
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    def _work(self) -> None:
        while not self._stopped:
            self._wake.wait(self.delay_s)
            self._wake.clear()
            self._export_queued()

    def _export_queued(self) -> None:
        assert self.exporter is not None
        with self._export_lock, untraced():  # storing metrics creates no spans
            while batch := self._take():
                try:
                    self.exporter.export(batch)
                except Exception:  # never let telemetry take the process down
                    logger.exception("could not export %d span metrics", len(batch))

    def _take(self) -> list[ReadableSpan]:
        with self._lock:
            return [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self.exporter is not None:
            self._export_queued()
        return True

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        if self.exporter is not None:
            self._export_queued()
            self.exporter.shutdown()
