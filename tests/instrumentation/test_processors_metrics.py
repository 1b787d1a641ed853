"""The request metrics processor (instrumentation/processors.py ``RequestMetrics``): it sees
every request and task run, sampled or not, and the calls that lead to them, and hands them
over in batches without ever holding a request up."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation.processors import RequestInstruments, RequestMetrics
from synthetic.builders import RecordOnly

HOUR_S = 3600.0  # a worker delay no test waits for: only flushes export


class Collected(SpanExporter):
    """Keeps what it is handed, batch by batch, and whether it was shut down."""

    def __init__(self) -> None:
        self.batches: list[list[ReadableSpan]] = []
        self.stopped = False

    def export(self, spans) -> SpanExportResult:
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.stopped = True

    def names(self) -> list[str]:
        return [span.name for batch in self.batches for span in batch]


def record(processor: RequestMetrics, *spans: tuple[str, SpanKind, dict]) -> None:
    """Ends one span per ``(name, kind, attributes)`` under a head sampler that keeps nothing."""
    provider = TracerProvider(sampler=RecordOnly())
    provider.add_span_processor(processor)
    tracer = provider.get_tracer(__name__)
    for name, kind, attributes in spans:
        tracer.start_span(name, kind=kind, attributes={"threadline.service": "shop", **attributes}).end()


def requests_(n: int) -> list[tuple[str, SpanKind, dict]]:
    return [(f"GET /{i}", SpanKind.SERVER, {}) for i in range(n)]


def test_unsampled_requests_task_runs_and_the_calls_before_them_are_handed_over():
    """Server and consumer spans, HTTP client calls and task publishes reach the exporter
    though none was sampled; database calls and inner steps do not."""
    exporter = Collected()
    processor = RequestMetrics(exporter, delay_s=HOUR_S)
    record(
        processor,
        ("POST api/shop/checkout/", SpanKind.SERVER, {}),
        ("run/orders.finalize_order", SpanKind.CONSUMER, {}),
        ("POST", SpanKind.CLIENT, {"http.method": "POST"}),
        ("GET", SpanKind.CLIENT, {"http.request.method": "GET"}),
        ("apply_async/orders.finalize_order", SpanKind.PRODUCER, {}),
        ("SELECT", SpanKind.CLIENT, {"db.system": "sqlite"}),
        ("BRPOP", SpanKind.CLIENT, {"db.system": "redis"}),
        ("reserve stock", SpanKind.INTERNAL, {}),
    )
    assert exporter.batches == []  # batched: nothing until a flush or the delay
    assert processor.force_flush()
    [exported] = exporter.batches
    assert exporter.names() == [
        "POST api/shop/checkout/",
        "run/orders.finalize_order",
        "POST",
        "GET",
        "apply_async/orders.finalize_order",
    ]
    assert not any(span.context.trace_flags.sampled for span in exported)


def test_a_full_queue_drops_and_counts_instead_of_waiting():
    """With room for two spans and no export yet, the third to fifth are dropped and counted."""
    exporter = Collected()
    processor = RequestMetrics(exporter, max_queue_size=2, batch_size=100, delay_s=HOUR_S)
    record(processor, *requests_(5))
    assert processor.dropped == 3
    processor.force_flush()
    assert exporter.names() == ["GET /0", "GET /1"]


def test_the_worker_exports_a_full_batch_without_a_flush():
    """A batch's worth of spans wakes the worker thread, which exports them as one batch."""
    exporter = Collected()
    record(RequestMetrics(exporter, batch_size=3, delay_s=HOUR_S), *requests_(3))
    deadline = time.monotonic() + 5
    while not exporter.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [len(batch) for batch in exporter.batches] == [3]


def test_shutdown_exports_what_is_left_and_takes_no_more():
    """Spans still queued at shutdown are exported, then the exporter is shut down; later
    spans are not queued."""
    exporter = Collected()
    processor = RequestMetrics(exporter, delay_s=HOUR_S)
    record(processor, *requests_(2))
    processor.shutdown()
    assert exporter.stopped
    record(processor, *requests_(1))
    processor.force_flush()
    assert exporter.names() == ["GET /0", "GET /1"]


def test_a_failing_exporter_never_reaches_the_request():
    """An exporter that raises is logged; ending spans and flushing still work."""

    class Broken(Collected):
        def export(self, spans) -> SpanExportResult:
            raise RuntimeError("store down")

    processor = RequestMetrics(Broken(), delay_s=HOUR_S)
    record(processor, *requests_(2))
    assert processor.force_flush()


def data_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """The reader's data points by metric name (counter points have ``value``, histogram
    points ``count`` and ``sum``)."""
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_the_otlp_instruments_count_requests_and_their_durations():
    """Each request and task run adds one call and one duration to its service and
    operation's series; HTTP calls (the callers' side) are not counted."""
    reader = InMemoryMetricReader()
    instruments = RequestInstruments(MeterProvider(metric_readers=[reader]).get_meter(__name__))
    provider = TracerProvider(sampler=RecordOnly())
    provider.add_span_processor(RequestMetrics(None, record=instruments))
    tracer = provider.get_tracer(__name__)
    for ms in (10, 30):
        span = tracer.start_span(
            "POST authorize",
            kind=SpanKind.SERVER,
            attributes={"threadline.service": "payments"},
            start_time=0,
        )
        span.set_status(Status(StatusCode.ERROR if ms == 30 else StatusCode.UNSET))
        span.end(end_time=ms * 1_000_000)
    tracer.start_span("POST", kind=SpanKind.CLIENT, attributes={"http.method": "POST"}).end()

    found = data_points(reader)
    calls = {point.attributes["status.code"]: point.value for point in found["threadline.calls"]}
    assert calls == {"UNSET": 1, "ERROR": 1}
    durations = sorted(found["threadline.duration"], key=lambda point: point.sum)
    assert [(point.count, point.sum) for point in durations] == [(1, 10.0), (1, 30.0)]
    assert dict(durations[0].attributes) == {
        "service.name": "payments",
        "span.name": "POST authorize",
        "span.kind": "SERVER",
        "status.code": "UNSET",
    }
