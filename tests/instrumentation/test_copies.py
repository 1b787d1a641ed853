"""Copies of ended spans: what is changed, and what is kept (the SDK's dropped counts)."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation.copies import copy_of, with_attributes


def ended_span(**attributes):
    exported = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=2))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    with provider.get_tracer(__name__).start_as_current_span("run/orders.finalize_order") as span:
        span.set_attributes(attributes)
    [ended] = exported.get_finished_spans()
    return ended


def test_a_copy_changes_only_what_it_is_given_and_keeps_what_the_limits_dropped():
    span = ended_span(a=1, b=2, c=3)  # one over the limit of 2
    copy = copy_of(span, resource=Resource({"service.name": "orders"}), dropped=1)
    assert copy.resource.attributes["service.name"] == "orders"
    assert (copy.name, copy.context, copy.start_time, copy.end_time) == (
        span.name,
        span.context,
        span.start_time,
        span.end_time,
    )
    assert copy.attributes == span.attributes
    assert span.dropped_attributes == 1 and copy.dropped_attributes == 2


def test_with_attributes_adds_to_the_spans_own():
    span = ended_span(a=1)
    assert with_attributes(span, {"db.summary.count": 3}).attributes == {"a": 1, "db.summary.count": 3}
