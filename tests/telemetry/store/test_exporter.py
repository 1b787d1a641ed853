"""The metric rows' write path (telemetry/store/exporter.py ``StoreMetricsExporter``): one
narrow row per span handed over, sampled or not, written without tracing the writes."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from synthetic.builders import RecordOnly
from telemetry.models import SpanMetric
from telemetry.store.exporter import StoreMetricsExporter

pytestmark = pytest.mark.django_db(databases="__all__")


def a_request_and_its_call(provider: TracerProvider) -> list[ReadableSpan]:
    """A shop request of 20 ms that failed, and the HTTP call it made to orders."""
    tracer = provider.get_tracer(__name__)
    request = tracer.start_span(
        "POST api/shop/checkout/",
        kind=SpanKind.SERVER,
        attributes={"threadline.service": "shop"},
        start_time=0,
    )
    call = tracer.start_span(
        "POST",
        kind=SpanKind.CLIENT,
        context=trace.set_span_in_context(request),
        attributes={"threadline.service": "shop", "http.method": "POST"},
        start_time=5_000_000,
    )
    call.end(end_time=15_000_000)
    request.set_status(Status(StatusCode.ERROR))
    request.end(end_time=20_000_000)
    assert isinstance(request, ReadableSpan) and isinstance(call, ReadableSpan)
    return [request, call]


def rows() -> list[tuple]:
    return list(
        SpanMetric.objects.order_by("start_time_ns").values_list(
            "service", "name", "kind", "start_time_ns", "duration_ns", "status", "sampled"
        )
    )


def test_unsampled_spans_are_stored_as_metric_rows_with_their_parent():
    """Spans the head sampler did not keep give rows marked unsampled, the call's row
    pointing at the request's (the services graph's join)."""
    request, call = a_request_and_its_call(TracerProvider(sampler=RecordOnly()))
    StoreMetricsExporter().export([request, call])
    assert rows() == [
        ("shop", "POST api/shop/checkout/", "SERVER", 0, 20_000_000, "ERROR", False),
        ("shop", "POST", "CLIENT", 5_000_000, 10_000_000, "UNSET", False),
    ]
    stored = SpanMetric.objects.get(kind="CLIENT")
    assert stored.parent_span_id == format(request.context.span_id, "016x")
    assert stored.trace_id == format(request.context.trace_id, "032x")


def test_sampled_spans_are_marked_sampled_and_a_batch_sent_twice_stores_once():
    """A kept trace's rows say so; an export retried after a failure adds nothing."""
    spans = a_request_and_its_call(TracerProvider())
    StoreMetricsExporter().export(spans)
    StoreMetricsExporter().export(spans)
    assert [row[-1] for row in rows()] == [True, True]


def test_storing_metric_rows_creates_no_spans(spans):
    """The inserts run untraced: even inside a traced block, the store never feeds itself
    spans about its own writes."""
    batch = a_request_and_its_call(TracerProvider(sampler=RecordOnly()))
    with trace.get_tracer(__name__).start_as_current_span("work"):
        StoreMetricsExporter().export(batch)
    assert [span.name for span in spans.get_finished_spans()] == ["work"]
