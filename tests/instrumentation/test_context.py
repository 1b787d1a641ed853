"""The context helpers domain code traces with instead of importing OpenTelemetry: a tracer
by module name, the current span to mark, and the order's baggage."""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

from instrumentation import attributes
from instrumentation.context import (
    baggage_cleared,
    capture_context,
    current_span,
    get_tracer,
    order_baggage,
    resumed_context,
)


def test_a_tracer_from_get_tracer_records_spans_under_the_test_provider(spans):
    """``get_tracer(__name__)`` follows the configured provider: its spans are exported."""
    with get_tracer(__name__).start_as_current_span("business step"):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "business step"
    assert span.instrumentation_scope.name == __name__


def test_current_span_is_the_span_the_code_runs_in(spans):
    """Attributes set on ``current_span()`` land on the enclosing span."""
    with trace.get_tracer(__name__).start_as_current_span("outer") as outer:
        assert current_span() is outer
        current_span().set_attribute(attributes.ORDER_ID, "o-1")
    (span,) = spans.get_finished_spans()
    assert span.attributes[attributes.ORDER_ID] == "o-1"


def test_outside_any_trace_current_span_is_a_harmless_no_op(spans):
    """Domain code marks the current span without checking whether there is one."""
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, "o-2")
    assert not span.is_recording()
    assert spans.get_finished_spans() == ()


# --- the order's baggage ------------------------------------------------------------------

ORDER_ID = "6f1c1d9e-3a52-4c1e-9b0a-0d8e4f1a2b3c"


def test_order_baggage_carries_the_tier_and_the_order_id_into_spans_and_stored_contexts(spans):
    """Inside the block the tier and the order id are baggage: spans get them, and a stored
    context (the outbox's, the order's) carries them in its ``baggage`` header."""
    with order_baggage(tier="premium", order_id=ORDER_ID):
        assert baggage.get_all() == {attributes.CUSTOMER_TIER: "premium", attributes.ORDER_ID: ORDER_ID}
        stored = capture_context()
        with get_tracer(__name__).start_as_current_span("step"):
            pass
    [span] = spans.get_finished_spans()
    assert span.attributes[attributes.CUSTOMER_TIER] == "premium"
    assert span.attributes[attributes.ORDER_ID] == ORDER_ID
    assert set(stored["baggage"].split(",")) == {"customer.tier=premium", f"order.id={ORDER_ID}"}
    assert baggage.get_all() == {}  # and nothing is left behind after the block


def test_order_baggage_replaces_what_the_caller_sent(spans):
    """A claimed tier, a stale order id or any other entry does not ride on: the block's
    baggage is the order's own, the tier alone until the order exists."""
    claimed = {attributes.CUSTOMER_TIER: "premium", attributes.ORDER_ID: "forged", "other": "x"}
    with baggage_of(claimed), order_baggage(tier="free"):
        assert baggage.get_all() == {attributes.CUSTOMER_TIER: "free"}


def test_order_baggage_stamps_the_span_already_running(spans):
    """The request's span started before the tier was known (maybe under a claimed tier):
    it ends with the order's own."""
    with baggage_of({attributes.CUSTOMER_TIER: "premium"}):
        with get_tracer(__name__).start_as_current_span("request"):
            with order_baggage(tier="free", order_id=ORDER_ID):
                pass
    [span] = spans.get_finished_spans()
    assert span.attributes[attributes.CUSTOMER_TIER] == "free"
    assert span.attributes[attributes.ORDER_ID] == ORDER_ID


def test_baggage_cleared_runs_a_block_with_no_baggage(spans):
    """The checkout's tier lookup runs without what a caller sent."""
    with baggage_of({attributes.CUSTOMER_TIER: "premium"}), baggage_cleared():
        assert baggage.get_all() == {}
        with get_tracer(__name__).start_as_current_span("lookup"):
            pass
    [span] = spans.get_finished_spans()
    assert attributes.CUSTOMER_TIER not in (span.attributes or {})


def test_a_resumed_context_brings_its_baggage_back(spans):
    """Work resumed from a stored context (reconcile, a late outbox publish) in another
    trace carries the order's baggage again."""
    with get_tracer(__name__).start_as_current_span("checkout"):
        with order_baggage(tier="premium", order_id=ORDER_ID):
            stored = capture_context()
    with get_tracer(__name__).start_as_current_span("reconcile run"):  # another trace
        with resumed_context(stored), get_tracer(__name__).start_as_current_span("pushed on"):
            pass
    pushed = next(s for s in spans.get_finished_spans() if s.name == "pushed on")
    assert pushed.attributes[attributes.CUSTOMER_TIER] == "premium"
    assert pushed.attributes[attributes.ORDER_ID] == ORDER_ID


@contextmanager
def baggage_of(entries: dict[str, str]) -> Iterator[None]:
    """The context as a caller's ``baggage`` header would leave it."""
    context = otel_context.get_current()
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
