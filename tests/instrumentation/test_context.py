"""The context helpers domain code traces with instead of importing OpenTelemetry: a tracer
by module name, and the current span to mark."""

from opentelemetry import trace

from instrumentation import attributes
from instrumentation.context import current_span, get_tracer


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
