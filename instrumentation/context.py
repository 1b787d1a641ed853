"""Small helpers domain code uses to read or mark the current span, store and resume a
trace context, and carry an order's baggage (API only, no SDK)."""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from instrumentation import attributes


def get_tracer(name: str) -> trace.Tracer:
    """The tracer a domain module opens its business-step spans with: ``get_tracer(__name__)``.

    Domain apps import no ``opentelemetry`` themselves (the import contracts hold them to this
    package), so they get their tracer here; it is the API's proxy tracer, which follows
    whatever provider ``setup.configure()`` installs, even after the module was imported.
    """
    return trace.get_tracer(name)


def current_span() -> trace.Span:
    """The span the current code runs in, to add attributes to; outside any trace a no-op
    span, so callers need not check."""
    return trace.get_current_span()


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or "" outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def mark_error(exc: BaseException, **extra: AttributeValue) -> None:
    """Mark the current span as failed with ``exc`` (Celery leaves retried attempts UNSET)."""
    span = trace.get_current_span()
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    for key, value in extra.items():
        span.set_attribute(key, value)


def mark_fault(name: str) -> None:
    """Say on the current span that an injected fault fired here."""
    trace.get_current_span().set_attribute(attributes.FAULT_NAME, name)


def capture_context() -> dict[str, str]:
    """The current trace context as W3C headers, to store with work done later (outbox)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def resumed_context(carrier: dict[str, str]):
    """Run a block inside a stored trace context, so later work joins the original trace.
    Already inside that trace (the request that stored it), the live span stays the parent."""
    stored = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    current = trace.get_current_span().get_span_context()
    joins = stored.is_valid and stored.trace_id != current.trace_id
    token = otel_context.attach(propagate.extract(carrier)) if joins else None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)


@contextmanager
def order_baggage(*, tier: str, order_id: str | None = None) -> Iterator[None]:
    """Carry the order's customer tier, and its id once known, as W3C baggage in the block:
    every span started there gets them as attributes (``processors.BaggageAttributes``), and
    every REST call, task and stored context (outbox, ``Order.trace_context``) sent from it
    carries them on, in any process.

    The entries replace whatever baggage the context held, so a caller's claimed tier or an
    earlier order's id does not ride on. The span already running (a request's server span,
    started before the tier was known) is stamped with them too, for the same reason.
    """
    entries = {attributes.CUSTOMER_TIER: tier, **({attributes.ORDER_ID: order_id} if order_id else {})}
    context = baggage.clear()
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
        trace.get_current_span().set_attribute(key, value)
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def baggage_cleared() -> Iterator[None]:
    """Run a block with no baggage at all: what a public caller sent is not the shop's word,
    so the work that decides the order's own baggage (the tier lookup) does not carry it."""
    token = otel_context.attach(baggage.clear())
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def untraced():
    """Run a block without tracing it: the span store's own reads and writes, fault-flag
    lookups, anything that would otherwise feed the store spans about itself."""
    with suppress_instrumentation():
        yield
