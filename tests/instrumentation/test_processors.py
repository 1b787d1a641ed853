"""Span processors: the order's baggage copied onto spans (only the allow-listed keys)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from instrumentation import attributes
from instrumentation.processors import BaggageAttributes

ORDER_ID = "6f1c1d9e-3a52-4c1e-9b0a-0d8e4f1a2b3c"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exported: InMemorySpanExporter) -> Tracer:
    """A provider of its own with just this processor, so nothing else writes attributes."""
    provider = TracerProvider()
    provider.add_span_processor(BaggageAttributes())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider.get_tracer(__name__)


@contextmanager
def with_baggage(**entries: str) -> Iterator[None]:
    context = otel_context.get_current()
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def test_the_tier_and_the_order_id_become_span_attributes(tracer, exported):
    """A span started under the order's baggage carries ``customer.tier`` and ``order.id``."""
    with with_baggage(**{attributes.CUSTOMER_TIER: "premium", attributes.ORDER_ID: ORDER_ID}):
        with tracer.start_as_current_span("step"):
            pass
    [span] = exported.get_finished_spans()
    assert span.attributes[attributes.CUSTOMER_TIER] == "premium"
    assert span.attributes[attributes.ORDER_ID] == ORDER_ID


def test_other_baggage_entries_write_no_attribute(tracer, exported):
    """Baggage comes from whoever calls: only the two allow-listed keys are copied."""
    entries = {attributes.CUSTOMER_TIER: "free", "user.email": "ada@example.com", "http.route": "/evil"}
    with with_baggage(**entries), tracer.start_as_current_span("step"):
        pass
    [span] = exported.get_finished_spans()
    assert dict(span.attributes or {}) == {attributes.CUSTOMER_TIER: "free"}


def test_a_span_without_baggage_is_unchanged(tracer, exported):
    """No baggage, no attributes added."""
    with tracer.start_as_current_span("step", attributes={"k": "v"}):
        pass
    [span] = exported.get_finished_spans()
    assert dict(span.attributes or {}) == {"k": "v"}


def test_an_attribute_the_span_started_with_wins_over_the_baggage(tracer, exported):
    """Code that names the order explicitly is not overwritten by the context's baggage."""
    with with_baggage(**{attributes.ORDER_ID: ORDER_ID}):
        with tracer.start_as_current_span("step", attributes={attributes.ORDER_ID: "explicit"}):
            pass
    [span] = exported.get_finished_spans()
    assert span.attributes[attributes.ORDER_ID] == "explicit"


def test_an_overlong_value_is_not_copied(tracer, exported):
    """A tier or an order id is short; a kilobyte in ``order.id`` is not ours to store."""
    with with_baggage(**{attributes.ORDER_ID: "x" * 1000}), tracer.start_as_current_span("step"):
        pass
    [span] = exported.get_finished_spans()
    assert attributes.ORDER_ID not in (span.attributes or {})


def test_the_explicit_parent_context_is_the_one_read(tracer, exported):
    """A span started with a context of its own (Celery's run span, a server span) takes
    that context's baggage, not the current one's."""
    remote = baggage.set_baggage(attributes.CUSTOMER_TIER, "premium", otel_context.Context())
    with with_baggage(**{attributes.CUSTOMER_TIER: "free"}):
        tracer.start_span("run", context=remote).end()
    [span] = exported.get_finished_spans()
    assert span.attributes[attributes.CUSTOMER_TIER] == "premium"


def test_the_configured_provider_copies_the_baggage(spans):
    """``configure()`` registers the processor: the process's own spans carry the tier."""
    from instrumentation.context import get_tracer

    with with_baggage(**{attributes.CUSTOMER_TIER: "standard"}):
        with get_tracer(__name__).start_as_current_span("step"):
            pass
    [span] = spans.get_finished_spans()
    assert span.attributes[attributes.CUSTOMER_TIER] == "standard"
