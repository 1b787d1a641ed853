"""Small helpers domain code uses to read or mark the current span, store and resume a
trace context, carry an order's baggage, and mark a saga step's run (API only, no SDK)."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


def flush_before_kill() -> None:
    """The process is about to die by SIGKILL at a crash fault's checkpoint: export the spans
    that ended so far, as the batch processor would have a moment later. The run's own span
    dies unended, as in any kill, so the stored trace shows the dead run by its orphans (the
    gateway call, the statements: children of a span that never arrived, what the diagnosis
    calls ``worker_lost``) beside the run delivered again; without the flush, whether they
    made it out would depend on the batch processor's timing."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:  # the SDK's provider; the API's default one has nothing to flush
        flush(timeout_millis=5000)


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


@dataclass(frozen=True)
class StepSpan:
    """Marks the run span of a saga step task (core.tasks.run_step): the order, the attempt
    and the step when it starts, an error when an attempt fails, the outcome it reports.
    The confirmation's steps and the undo's steps use their own attribute names."""

    step_key: str
    outcome_key: str

    def started(self, *, order_id: str, attempt: int, step: str) -> None:
        span = trace.get_current_span()
        span.set_attribute(attributes.ORDER_ID, order_id)
        span.set_attribute(attributes.TASK_ATTEMPT, attempt)
        span.set_attribute(self.step_key, step)

    def failed(self, exc: BaseException) -> None:
        mark_error(exc)

    def ended(self, outcome: str) -> None:
        trace.get_current_span().set_attribute(self.outcome_key, outcome)

    def trace_id(self) -> str:
        return current_trace_id()


# Payments' capture and inventory's commit (orders.record_step), and their undo, the void or
# refund and the release (orders.record_undo).
CONFIRMATION_STEP = StepSpan(attributes.STEP, attributes.STEP_OUTCOME)
UNDO_STEP = StepSpan(attributes.UNDO_STEP, attributes.UNDO_OUTCOME)
