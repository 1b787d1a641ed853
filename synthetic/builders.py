"""Builders of traces: the one module for the tests and for ``manage.py generate_traces``
(as DRF keeps its test helpers in ``rest_framework/test.py``). Tooling, not product.

- ``TraceBuilder`` makes unsaved ``Span`` rows of one trace at chosen times; ``Recorder``
  makes the same spans through a real OpenTelemetry SDK ``TracerProvider`` of its own and
  turns them into rows the way the server does (``span_to_row``, ``StoreSpanExporter``).
  Both have one ``span()`` signature, so the shapes built on it (a statement, a REST hop,
  a Celery publish and run) are written once for either.
- Traces whose answer is known: ``retried_db_timeouts``, ``unreachable_then_db_timeout``,
  ``shed_reservation``, ``slow_gateway``, ``n_plus_one`` (rows), ``failed_order`` and ``confirmed_order``
  (recorded). Their times are what the tests' expected numbers are worked out from.
- ``add_span`` and ``call`` write spans straight into the store (with its index) a known
  time before ``NOW``, with their metric rows (``metric_row``), for the dashboard's and
  alerts' numbers; ``sampled=False`` writes the metric row alone, as for a request whose
  trace the head sampler did not keep.
- ``bulk_import``: a 2,001-span trace for the viewer's folding.
- ``checkout_trace`` draws one random order's whole trace for ``generate_traces``.

Names, kinds and attributes follow the instrumentors' (Django, requests, Celery, sqlite3,
Redis), as the real processes record them (tests/flows/test_checkout_flow.py).
"""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Generic, TypeVar

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import attributes, names
from telemetry.models import LogRecord, Span, SpanMetric
from telemetry.store.exporter import StoreSpanExporter, span_to_row
from telemetry.store.index import save_spans

MS = 1_000_000  # nanoseconds
S = 1_000_000_000
# A fixed instant (2027-01-15) that built traces start from, so nothing depends on the clock.
BASE_NS = 1_800_000_000 * S
NOW = BASE_NS  # the "now" stored spans count back from (a test may move it)
HOST = "http://127.0.0.1:8000"
ORDER_ID = "b87e94f3-ca16-409c-9ca3-6eede71cb877"
# The worker's confirmation, as orders.services._update issues it.
UPDATE_CONFIRMATION = (
    'UPDATE "orders_order" SET "confirmation_code" = %s, "updated_at" = %s '
    'WHERE ("orders_order"."confirmation_code" = %s AND "orders_order"."id" = %s)'
)
OUTBOX_DELIVERED = (
    'UPDATE "orders_outboxmessage" SET "delivered_at" = %s WHERE "orders_outboxmessage"."id" = %s'
)
DB_TIMEOUT = ("sqlite3.OperationalError", "interrupted")
DJANGO_DB_TIMEOUT = ("django.db.utils.OperationalError", "interrupted")
UNREACHABLE = ("requests.exceptions.ConnectionError", "[Errno 111] Connection refused")
SERVICE_UNAVAILABLE = ("core.api.ServiceUnavailable", "payments is unreachable")

Error = tuple[str, str]  # exception type, message
SpanT = TypeVar("SpanT")  # what a builder's ``span()`` makes: a ``Span`` row or an SDK span


# --- rows ----------------------------------------------------------------------------------


def span_row(
    trace_id: str,
    span_id: str,
    *,
    parent_span_id: str,
    name: str,
    service: str,
    kind: str,
    start_ns: int,
    end_ns: int,
    attributes: dict | None = None,
    status: str = "",
    error: Error | None = None,
    resource: dict | None = None,
) -> Span:
    """An unsaved store row; ``error`` makes it ERROR with the exception event the SDK records."""
    attributes = attributes or {}
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        service=service,
        kind=kind,
        start_time_ns=start_ns,
        end_time_ns=end_ns,
        duration_ns=end_ns - start_ns,
        status=status or ("ERROR" if error else "UNSET"),
        status_message=status_message(error) if error else "",
        attributes=attributes,
        events=[exception_event(*error, end_ns)] if error else [],
        resource=resource or {},
        order_id=str(attributes.get("order.id", "")),
    )


def status_message(error: Error) -> str:
    """What the instrumentors put in an ERROR status: the exception's class name and message."""
    kind, message = error
    return f"{kind.rsplit('.', 1)[-1]}: {message}"


def exception_event(kind: str, message: str, time_ns: int) -> dict:
    return {
        "name": "exception",
        "time_ns": time_ns,
        "attributes": {
            "exception.type": kind,
            "exception.message": message,
            "exception.stacktrace": f"Traceback (most recent call last):\n  ...\n{kind}: {message}",
            "exception.escaped": "False",
        },
    }


def trace_id(name: str) -> str:
    """A readable name padded into a 32-digit trace id."""
    return name.encode().hex().ljust(32, "0")[:32]


def service_of(span: Span | otel_trace.Span) -> str:
    """The service a span (row or SDK span) was recorded for."""
    if isinstance(span, Span):
        return span.attributes["threadline.service"]
    # The SDK's tracer is typed as handing out the API's ``Span``, which keeps no attributes;
    # what it hands out is the SDK's own span, a ``ReadableSpan``.
    assert isinstance(span, ReadableSpan), f"not an SDK span: {span!r}"
    return str((span.attributes or {})["threadline.service"])


class RecordOnly(Sampler):
    """Records every span and samples none: what the head sampler does with the requests
    and task runs of a trace it does not keep (processors see them, no exporter does)."""

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY, attributes)

    def get_description(self) -> str:
        return "RecordOnly"


# --- one trace, as rows or recorded --------------------------------------------------------


class SpanBuilder(Generic[SpanT]):
    """The shapes every trace is made of, on top of a subclass's ``span()``; times are
    milliseconds after the trace's ``base_ns``."""

    base_ns: int

    def span(
        self,
        name: str,
        *,
        service: str,
        start: float,
        ms: float,
        parent: SpanT | None = None,
        kind: str = "INTERNAL",
        attributes: dict | None = None,
        error: Error | None = None,
        status: str = "",
    ) -> SpanT:
        raise NotImplementedError

    def at(self, ms: float) -> int:
        return self.base_ns + int(ms * MS)

    def request(
        self,
        route: str,
        *,
        service: str,
        ms: float,
        status: int = 200,
        method: str = "POST",
        start: float = 0,
    ):
        """The request a trace starts with: ``service``'s server span for ``method route``,
        answered ``status`` (a 5xx marks the span ERROR, as Django's instrumentation does)."""
        return self.span(
            f"{method} {route}",
            service=service,
            start=start,
            ms=ms,
            kind="SERVER",
            attributes={"http.route": route, "http.status_code": status},
            status="ERROR" if status >= 500 else "",
        )

    def statement(
        self, parent, statement: str, *, start: float, ms: float = 0.3, error=None, attributes=None
    ):
        """A database statement under ``parent``, named by its verb as the sqlite3 instrumentor does."""
        return self.span(
            statement.split(None, 1)[0],
            service=service_of(parent),
            start=start,
            ms=ms,
            parent=parent,
            kind="CLIENT",
            attributes={"db.system": "sqlite", "db.statement": statement, **(attributes or {})},
            error=error,
        )

    def call(
        self,
        parent,
        route: str,
        path: str = "",
        *,
        service: str,
        start: float,
        ms: float,
        status: int = 200,
        latency: float = 2,
        attributes: dict | None = None,
    ):
        """A REST hop from ``parent``: the caller's client span and, ``latency`` / 2 later,
        the callee's server span of ``ms`` (with ``attributes``); returns the server span."""
        client = self.span(
            "POST",
            service=service_of(parent),
            start=start,
            ms=ms + latency,
            parent=parent,
            kind="CLIENT",
            attributes={
                "http.method": "POST",
                "http.url": f"{HOST}/{path or route}",
                "http.status_code": status,
            },
        )
        return self.span(
            f"POST {route}",
            service=service,
            start=start + latency / 2,
            ms=ms,
            parent=client,
            kind="SERVER",
            attributes={"http.route": route, "http.status_code": status, **(attributes or {})},
        )

    def failed_call(self, parent, path: str, *, start: float, error: Error):
        """A REST call that got no answer (nothing listens at port 9)."""
        return self.span(
            "POST",
            service=service_of(parent),
            start=start,
            ms=1,
            parent=parent,
            kind="CLIENT",
            attributes={"http.method": "POST", "http.url": f"http://127.0.0.1:9/{path}"},
            error=error,
        )


class TraceBuilder(SpanBuilder[Span]):
    """Unsaved ``Span`` rows of one trace; span ids count up from 1 unless a subclass draws them."""

    def __init__(self, trace_id: str = "4c12b2a6d138e675b96b9719a3bc782b", base_ns: int = BASE_NS) -> None:
        self.trace_id = trace_id
        self.base_ns = base_ns
        self.spans: list[Span] = []

    def span(
        self,
        name: str,
        *,
        service: str,
        start: float,
        ms: float,
        parent: Span | None = None,
        kind: str = "INTERNAL",
        attributes: dict | None = None,
        error: Error | None = None,
        status: str = "",
    ) -> Span:
        row = span_row(
            self.trace_id,
            self.new_span_id(),
            parent_span_id=parent.span_id if parent else "",
            name=name,
            service=service,
            kind=kind,
            start_ns=self.at(start),
            end_ns=self.at(start + ms),
            attributes={"threadline.service": service, **(attributes or {})},
            status=status,
            error=error,
            resource=self.resource(service),
        )
        self.spans.append(row)
        return row

    def end(self, span: Span, at: float) -> None:
        """Ends ``span`` at ``at``, for a span whose end is known only after its children."""
        span.end_time_ns = self.at(at)
        span.duration_ns = span.end_time_ns - span.start_time_ns

    def new_span_id(self) -> str:
        return f"{len(self.spans) + 1:016x}"

    def resource(self, service: str) -> dict:
        return {}


class DriverError(Exception):
    """Stands in for the driver's error; recorded under the driver's type name."""


_bases = itertools.count()


class Recorder(SpanBuilder[otel_trace.Span]):
    """One trace made of SDK spans by a ``TracerProvider`` of its own (not the test
    process's global one); each new recorder starts a minute after the one before."""

    def __init__(self, base_ns: int | None = None, process: str = "shop") -> None:
        self.base_ns = BASE_NS + next(_bases) * 60_000 * MS if base_ns is None else base_ns
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": process, "service.namespace": "threadline"})
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("synthetic.builders")

    def span(
        self,
        name: str,
        *,
        service: str,
        start: float,
        ms: float,
        parent: otel_trace.Span | None = None,
        kind: SpanKind | str = SpanKind.INTERNAL,
        attributes: dict | None = None,
        error: Error | None = None,
        status: str = "",
    ) -> otel_trace.Span:
        span = self.tracer.start_span(
            name,
            context=otel_trace.set_span_in_context(parent) if parent is not None else None,
            kind=SpanKind[kind] if isinstance(kind, str) else kind,
            attributes={"threadline.service": service, **(attributes or {})},
            start_time=self.at(start),
        )
        if error:
            self._fail(span, error, self.at(start + ms))
        elif status == "ERROR":
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=self.at(start + ms))
        return span

    def _fail(self, span: otel_trace.Span, error: Error, time_ns: int) -> None:
        """Records a raised exception as the SDK does, under ``error``'s type name."""
        kind, message = error
        try:
            raise DriverError(message)
        except DriverError as exc:
            span.record_exception(exc, attributes={"exception.type": kind}, timestamp=time_ns)
        span.set_status(Status(StatusCode.ERROR, status_message(error)))

    @property
    def trace_id(self) -> str:
        return format(self.finished()[0].context.trace_id, "032x")

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def rows(self) -> list[Span]:
        """Unsaved store rows, as the store exporter builds them."""
        return [span_to_row(span) for span in self.finished()]

    def store(self) -> list[Span]:
        """Stores the spans through the store's own exporter; returns the stored rows."""
        StoreSpanExporter().export(self.finished())
        return list(Span.objects.filter(trace_id=self.trace_id).order_by("start_time_ns"))


# --- Celery --------------------------------------------------------------------------------


def publish(
    builder: SpanBuilder, parent, task: str, *, start: float, ms: float = 0.5, attributes: dict | None = None
):
    """A Celery publish (``apply_async``) of ``task`` from ``parent``'s service."""
    return builder.span(
        f"apply_async/{task}",
        service=service_of(parent),
        start=start,
        ms=ms,
        parent=parent,
        kind="PRODUCER",
        attributes={"celery.action": "apply_async", "celery.task_name": task, **(attributes or {})},
    )


def run(
    builder: SpanBuilder,
    parent,
    task: str,
    attempt: int | None = None,
    *,
    start: float,
    ms: float,
    fault: str | None = None,
    order_id: str = ORDER_ID,
    attributes: dict | None = None,
    error: Error | None = None,
):
    """The worker's run of ``task`` delivered by ``parent`` (its publish), in the worker of
    the task's app (``payments.…`` in ``payments-worker``); ``fault`` names an injected fault
    that fired in it."""
    extra = {"celery.attempt": attempt} if attempt is not None else {}
    return builder.span(
        names.run_span(task),
        service=f"{task.partition('.')[0]}-worker",
        start=start,
        ms=ms,
        parent=parent,
        kind="CONSUMER",
        attributes={
            "celery.action": "run",
            "celery.task_name": task,
            "order.id": order_id,
            **extra,
            **({"fault.name": fault} if fault else {}),
            **(attributes or {}),
        },
        error=error,
    )


# --- traces whose diagnosis is known (rows) ------------------------------------------------


def checkout(trace: TraceBuilder) -> Span:
    """The checkout request up to the publish of ``orders.finalize_order``; returns the publish."""
    request = trace.request("api/shop/checkout/", service="shop", ms=280, status=202)
    step = trace.span(
        "checkout", service="shop", start=50, ms=200, parent=request, attributes={"order.id": ORDER_ID}
    )
    trace.call(step, "api/inventory/reservations/", service="inventory", start=60, ms=10)
    trace.call(step, names.PAYMENT_AUTHORIZE_ROUTE, service="payments", start=80, ms=12)
    place_path = f"api/orders/{ORDER_ID}/place/"
    place = trace.call(
        step, "api/orders/<uuid:order_id>/place/", place_path, service="orders", start=100, ms=80
    )
    trace.statement(
        place, 'UPDATE "orders_order" SET "status" = %s WHERE "orders_order"."id" = %s', start=110
    )
    return publish(trace, place, names.FINALIZE_ORDER_TASK, start=170)


def db_timeout_attempt(trace: TraceBuilder, parent: Span, attempt: int, *, start: float) -> Span:
    """One finalize attempt whose confirmation UPDATE hits the database's timeout."""
    attempt_span = run(
        trace,
        parent,
        names.FINALIZE_ORDER_TASK,
        attempt,
        start=start,
        ms=320,
        fault="order_db_timeout",
        error=DJANGO_DB_TIMEOUT,
    )
    trace.statement(
        attempt_span, 'SELECT "orders_order"."id" FROM "orders_order" WHERE id = %s', start=start + 2
    )
    trace.statement(attempt_span, "BEGIN IMMEDIATE", start=start + 3, ms=0.1)
    trace.statement(attempt_span, UPDATE_CONFIRMATION, start=start + 5, ms=300, error=DB_TIMEOUT)
    return attempt_span


def unreachable_attempt(trace: TraceBuilder, parent: Span, attempt: int, *, start: float) -> Span:
    """One finalize attempt whose capture call cannot reach payments."""
    attempt_span = run(
        trace,
        parent,
        names.FINALIZE_ORDER_TASK,
        attempt,
        start=start,
        ms=30,
        fault="payments_unreachable",
        error=SERVICE_UNAVAILABLE,
    )
    trace.statement(
        attempt_span, 'SELECT "orders_order"."id" FROM "orders_order" WHERE id = %s', start=start + 2
    )
    path = f"api/payments/payments/{ORDER_ID}/capture/"
    trace.failed_call(attempt_span, path, start=start + 10, error=UNREACHABLE)
    return attempt_span


def compensation(trace: TraceBuilder, parent: Span, *, start: float) -> Span:
    """``orders.compensate_order``: void the payment, release the stock, fail the order."""
    published = publish(trace, parent, names.COMPENSATE_ORDER_TASK, start=start)
    task = run(trace, published, names.COMPENSATE_ORDER_TASK, 1, start=start + 2, ms=45)
    cancel = f"api/payments/payments/{ORDER_ID}/cancel/"
    trace.call(
        task,
        names.PAYMENT_CANCEL_ROUTE,
        cancel,
        service="payments",
        start=start + 5,
        ms=8,
    )
    release = f"api/inventory/reservations/{ORDER_ID}/release/"
    trace.call(
        task,
        names.STOCK_RELEASE_ROUTE,
        release,
        service="inventory",
        start=start + 18,
        ms=6,
    )
    trace.statement(
        task, 'UPDATE "orders_order" SET "status" = %s, "reason" = %s WHERE id = %s', start=start + 30
    )
    return task


def queued_compensation(trace: TraceBuilder, parent: Span, *, start: float, payment: str = "voided") -> Span:
    """``orders.compensate_order`` as it runs since the undo became tasks: it claims the order
    and asks payments' and inventory's workers by task; each reports back to orders, and the
    second report fails the order. (``compensation`` is the shape traced before: REST.)"""
    published = publish(trace, parent, names.COMPENSATE_ORDER_TASK, start=start)
    task = run(trace, published, names.COMPENSATE_ORDER_TASK, 1, start=start + 2, ms=12)
    trace.statement(
        task, 'UPDATE "orders_order" SET "status" = %s, "reason" = %s WHERE id = %s', start=start + 4
    )
    steps = ((names.PAYMENT_CANCEL_TASK, "payment", payment), (names.STOCK_RELEASE_TASK, "stock", "released"))
    for number, (undo, step, outcome) in enumerate(steps):
        at = start + 20 + number * 20
        asked = publish(trace, task, undo, start=start + 10 + number)
        done = {attributes.UNDO_STEP: step, attributes.UNDO_OUTCOME: outcome}
        undone = run(trace, asked, undo, 1, start=at, ms=8, attributes=done)
        reported = publish(trace, undone, names.UNDO_REPORTED_TASK, start=at + 7)
        status = "failed" if number == len(steps) - 1 else "failing"
        run(
            trace,
            reported,
            names.UNDO_REPORTED_TASK,
            1,
            start=at + 9,
            ms=5,
            attributes={**done, attributes.ORDER_STATUS: status},
        )
    return task


def confirmed_by_workers(*, commit: str = "done") -> TraceBuilder:
    """Finalize writes the confirmation and asks payments' and inventory's workers for the
    capture and the commit by task; each reports back to orders (``orders.record_step``).
    Both done: the order is confirmed and its email fails (the mail server refuses it).
    ``commit="failed"``: inventory's commit is refused for good, the report queues the
    compensation, which refunds the capture and releases the stock."""
    trace = TraceBuilder()
    task = run(trace, checkout(trace), names.FINALIZE_ORDER_TASK, 1, start=200, ms=12)
    trace.statement(task, UPDATE_CONFIRMATION, start=202, ms=2)
    steps = ((names.PAYMENT_CAPTURE_TASK, "capture", "done"), (names.STOCK_COMMIT_TASK, "commit", commit))
    reports = []
    for number, (asked_for, step, outcome) in enumerate(steps):
        at = 220 + number * 20
        asked = publish(trace, task, asked_for, start=210 + number)
        told = {attributes.STEP: step, attributes.STEP_OUTCOME: outcome}
        refused = (
            ("inventory.errors.ReservationNotFound", "already released") if outcome == "failed" else None
        )
        done = run(trace, asked, asked_for, 1, start=at, ms=8, attributes=told, error=refused)
        reported = publish(trace, done, names.STEP_REPORTED_TASK, start=at + 7)
        status = "confirmed" if number and commit == "done" else "placed"
        reports.append(
            run(
                trace,
                reported,
                names.STEP_REPORTED_TASK,
                1,
                start=at + 9,
                ms=5,
                attributes={**told, attributes.ORDER_STATUS: status},
            )
        )
    if commit == "done":
        asked = publish(trace, reports[-1], names.SEND_ORDER_EMAIL_TASK, start=275)
        run(
            trace,
            asked,
            names.SEND_ORDER_EMAIL_TASK,
            1,
            start=280,
            ms=5,
            error=("smtplib.SMTPException", "refused"),
        )
    else:
        queued_compensation(trace, reports[-1], start=280, payment="refunded")
    return trace


def retried_db_timeouts(attempts: int = 3) -> TraceBuilder:
    """Every finalize attempt times out on the confirmation UPDATE; then compensation.
    Each retry is published from inside the attempt before it, as Celery does."""
    trace = TraceBuilder()
    parent = checkout(trace)
    for attempt in range(1, attempts + 1):
        start = 200 + (attempt - 1) * 500
        attempt_span = db_timeout_attempt(trace, parent, attempt, start=start)
        if attempt < attempts:
            parent = publish(trace, attempt_span, names.FINALIZE_ORDER_TASK, start=start + 310)
    compensation(trace, attempt_span, start=start + 312)
    return trace


def undone_by_workers(payment: str = "voided") -> TraceBuilder:
    """Every finalize attempt times out (3 attempts); the compensation asks payments' and
    inventory's workers by task and their reports fail the order (``queued_compensation``)."""
    trace = TraceBuilder()
    parent = checkout(trace)
    for attempt in range(1, 4):
        start = 200 + (attempt - 1) * 500
        attempt_span = db_timeout_attempt(trace, parent, attempt, start=start)
        if attempt < 3:
            parent = publish(trace, attempt_span, names.FINALIZE_ORDER_TASK, start=start + 310)
    queued_compensation(trace, attempt_span, start=start + 312, payment=payment)
    return trace


def unreachable_then_db_timeout() -> TraceBuilder:
    """Attempts 1 and 2 cannot reach payments; attempt 3 times out in the database; then
    compensation."""
    trace = TraceBuilder()
    first = unreachable_attempt(trace, checkout(trace), 1, start=200)
    second = unreachable_attempt(
        trace, publish(trace, first, names.FINALIZE_ORDER_TASK, start=225), 2, start=400
    )
    third = db_timeout_attempt(
        trace, publish(trace, second, names.FINALIZE_ORDER_TASK, start=425), 3, start=800
    )
    compensation(trace, third, start=1112)
    return trace


def shed_reservation(release_outcome: str | None = "none") -> TraceBuilder:
    """Inventory sheds the reservation with 503 (nothing reserved); the checkout fails the
    order through orders' fail API, which cancels the payment and releases the stock; the
    release says what it did (``order.undo.outcome``; None: as traced before it said so)."""
    trace = TraceBuilder()
    request = trace.request("api/shop/checkout/", service="shop", ms=100, status=503)
    step = trace.span("checkout", service="shop", start=5, ms=90, parent=request, status="ERROR")
    reserve = trace.call(step, names.STOCK_RESERVE_ROUTE, service="inventory", start=6, ms=3, status=503)
    reserve.status = "ERROR"
    fail = trace.call(step, names.ORDER_FAIL_ROUTE, service="orders", start=20, ms=60)
    trace.call(fail, names.PAYMENT_CANCEL_ROUTE, service="payments", start=25, ms=10)
    said = {attributes.UNDO_OUTCOME: release_outcome} if release_outcome else {}
    trace.call(fail, names.STOCK_RELEASE_ROUTE, service="inventory", start=40, ms=10, attributes=said)
    return trace


def slow_gateway() -> TraceBuilder:
    """A finalize that succeeds, but the payments capture takes 2 s with nothing traced under it."""
    trace = TraceBuilder()
    task = run(trace, checkout(trace), names.FINALIZE_ORDER_TASK, 1, start=200, ms=2100)
    trace.statement(task, UPDATE_CONFIRMATION, start=205, ms=2)
    commit = f"api/inventory/reservations/{ORDER_ID}/commit/"
    trace.call(
        task,
        "api/inventory/reservations/<uuid:order_id>/commit/",
        commit,
        service="inventory",
        start=210,
        ms=15,
    )
    capture = f"api/payments/payments/{ORDER_ID}/capture/"
    trace.call(
        task,
        names.PAYMENT_CAPTURE_ROUTE,
        capture,
        service="payments",
        start=230,
        ms=2000,
    )
    return trace


def n_plus_one(queries: int = 20) -> TraceBuilder:
    """The product list reading each product's stock with its own SELECT."""
    trace = TraceBuilder()
    request = trace.request("api/shop/products/", method="GET", service="shop", ms=60)
    trace.statement(request, 'SELECT "shop_product"."id", "shop_product"."sku" FROM "shop_product"', start=1)
    for n in range(queries):
        trace.statement(
            request,
            'SELECT "inventory_stockitem"."available" FROM "inventory_stockitem" '
            f'WHERE "inventory_stockitem"."id" = {n + 1} LIMIT 21',
            start=3 + n * 2,
        )
    return trace


def flooded(children: int = 20_000) -> TraceBuilder:
    """One request with ``children`` statements under it, a few of them failing: the trace a
    loop (or a caller piling spans onto one parent) makes, for the viewer's large-trace bench."""
    trace = TraceBuilder()
    step = 0.05  # ms between statements: 20,000 fit in a one-second request
    request = trace.span(
        "GET api/shop/products/", service="shop", start=0, ms=children * step + 5, kind="SERVER"
    )
    for n in range(children):
        trace.statement(
            request,
            f'SELECT "inventory_stockitem"."available" FROM "inventory_stockitem" WHERE "id" = {n + 1}',
            start=1 + n * step,
            ms=step * 0.8,
            error=("OperationalError", "database is locked") if n % 5000 == 4999 else None,
        )
    return trace


def deep(levels: int = 20_000) -> TraceBuilder:
    """A chain of ``levels`` spans, each the parent of the next, the deepest failing: the
    nesting that recursion would not survive, for the viewer's large-trace bench."""
    trace = TraceBuilder()
    parent = None
    for level in range(levels):
        parent = trace.span(
            f"step {level}",
            service="orders" if level % 2 else "shop",
            start=level * 0.01,
            ms=(levels - level) * 0.02,
            parent=parent,
            kind="SERVER" if parent is None else "INTERNAL",
            error=("ValueError", "too deep") if level == levels - 1 else None,
        )
    return trace


def bulk_import(batches: int = 20, rows: int = 99, failing_batch: int = 2) -> TraceBuilder:
    """An import request writing ``batches`` batches of ``rows`` INSERTs each (2,001 spans
    by default); one INSERT of ``failing_batch`` breaks a constraint and is skipped: the
    large trace the viewer opens folded."""
    trace = TraceBuilder(trace_id=trace_id("bulk-import"))
    duplicate = ("sqlite3.IntegrityError", "UNIQUE constraint failed: shop_product.sku")
    per_batch = rows * 0.5 + 1
    request = trace.request("api/shop/products/import/", service="shop", ms=batches * per_batch + 2)
    for number in range(batches):
        start = 1 + number * per_batch
        batch = trace.span(
            f"import batch {number + 1}", service="shop", start=start, ms=per_batch - 0.5, parent=request
        )
        for row in range(rows):
            failing = number == failing_batch - 1 and row == rows // 2
            trace.statement(
                batch,
                'INSERT INTO "shop_product" ("sku", "name", "price_cents") VALUES (%s, %s, %s)',
                start=start + 0.2 + row * 0.5,
                ms=0.4,
                error=duplicate if failing else None,
            )
    return trace


# --- recorded orders (SDK spans) -----------------------------------------------------------


def recorded_checkout(rec: Recorder, order_id: str) -> otel_trace.Span:
    """The checkout request up to its publish of ``orders.finalize_order``, with the order
    created first and the outbox marked after the publish; returns the publish."""
    request = rec.span(
        "POST api/shop/checkout/",
        service="shop",
        start=0,
        ms=120,
        kind="SERVER",
        attributes={"http.route": "api/shop/checkout/", "http.status_code": 202},
    )
    step = rec.span(
        "checkout", service="shop", start=5, ms=110, parent=request, attributes={"order.id": order_id}
    )
    for offset, service, route in (
        (10, "orders", "api/orders/"),
        (30, "inventory", "api/inventory/reservations/"),
        (50, "payments", names.PAYMENT_AUTHORIZE_ROUTE),
    ):
        _order_call(rec, step, service, route, start=offset, order_id=order_id)
    place = _order_call(
        rec, step, "orders", "api/orders/<uuid:order_id>/place/", start=70, order_id=order_id, ms=40
    )
    published = publish(rec, place, names.FINALIZE_ORDER_TASK, start=100, ms=1)
    # Runs while the task is already on its way: not what the trace waited for.
    rec.statement(place, OUTBOX_DELIVERED, start=103, ms=1)
    return published


def _order_call(
    rec: Recorder,
    parent: otel_trace.Span,
    service: str,
    route: str,
    *,
    start: float,
    order_id: str,
    ms: float = 15,
) -> otel_trace.Span:
    """A hop of ``ms`` in all whose server span names the order."""
    return rec.call(parent, route, service=service, start=start, ms=ms - 2, attributes={"order.id": order_id})


def recorded_attempt(
    rec: Recorder, parent: otel_trace.Span, number: int, *, start: float, order_id: str, fails: bool
) -> otel_trace.Span:
    """One run of ``orders.finalize_order``: its UPDATE times out when ``fails``."""
    attempt = run(
        rec,
        parent,
        names.FINALIZE_ORDER_TASK,
        number,
        start=start,
        ms=320 if fails else 60,
        fault="order_db_timeout" if fails else None,
        order_id=order_id,
        error=DJANGO_DB_TIMEOUT if fails else None,
    )
    error = DB_TIMEOUT if fails else None
    rec.statement(attempt, UPDATE_CONFIRMATION, start=start + 5, ms=300 if fails else 1, error=error)
    return attempt


def failed_order(rec: Recorder, order_id: str = "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01", attempts: int = 2):
    """Every finalize attempt times out; compensation voids and releases. Returns the
    spans that matter by name: ``attempts``, ``compensation``."""
    published = recorded_checkout(rec, order_id)
    runs, start = [], 130.0
    for number in range(1, attempts + 1):
        attempt = recorded_attempt(rec, published, number, start=start, order_id=order_id, fails=True)
        runs.append(attempt)
        task = names.COMPENSATE_ORDER_TASK if number == attempts else names.FINALIZE_ORDER_TASK
        published = publish(rec, attempt, task, start=start + 318, ms=1)
        start += 400
    compensation = run(rec, published, names.COMPENSATE_ORDER_TASK, start=start, ms=50, order_id=order_id)
    cancel = names.PAYMENT_CANCEL_ROUTE
    _order_call(rec, compensation, "payments", cancel, start=start + 5, order_id=order_id)
    release = names.STOCK_RELEASE_ROUTE
    _order_call(rec, compensation, "inventory", release, start=start + 25, order_id=order_id)
    return {"attempts": runs, "compensation": compensation}


def confirmed_order(rec: Recorder, order_id: str = "5c1d7d8e-2b1a-4d8e-9d7a-1a2b3c4d5e6f"):
    """The first finalize attempt commits the stock and captures the payment."""
    published = recorded_checkout(rec, order_id)
    attempt = recorded_attempt(rec, published, 1, start=130, order_id=order_id, fails=False)
    commit = "api/inventory/reservations/<uuid:order_id>/commit/"
    _order_call(rec, attempt, "inventory", commit, start=140, order_id=order_id)
    capture = names.PAYMENT_CAPTURE_ROUTE
    _order_call(rec, attempt, "payments", capture, start=160, order_id=order_id)
    return {"attempts": [attempt]}


# --- spans written straight into the store -------------------------------------------------

_stored_ids = itertools.count(1)


def add_span(
    trace: str,
    service: str,
    name: str,
    *,
    kind: str = "SERVER",
    parent: Span | None = None,
    parent_span_id: str = "",
    ago_s: float = 60,
    ms: float = 10,
    status: str = "UNSET",
    sampled: bool = True,
) -> Span:
    """Stores a span of ``ms`` milliseconds that started ``ago_s`` seconds before ``NOW``
    (read at each call, so a test may move it) and, unless it is an inner step, its metric
    row; ``trace`` is a name for ``trace_id``. Unsampled: the metric row only."""
    start = NOW - int(ago_s * S)
    span = span_row(
        trace_id(trace),
        format(next(_stored_ids), "016x"),
        parent_span_id=parent.span_id if parent else parent_span_id,
        name=name,
        service=service,
        kind=kind,
        start_ns=start,
        end_ns=start + int(ms * MS),
        status=status,
    )
    if metered(span):
        metric_row(span, sampled=sampled).save()
    if sampled:
        save_spans([span])
    return span


def metered(span: Span) -> bool:
    """Whether the server would have written a metric row for this span (as
    ``instrumentation.processors.is_metered`` decides): not for inner steps, nor for
    database and Redis calls."""
    return span.kind != "INTERNAL" and not (span.kind == "CLIENT" and "db.system" in span.attributes)


def metric_row(span: Span, *, sampled: bool = True) -> SpanMetric:
    """The unsaved metric row of a span row, as ``StoreMetricsExporter`` writes it."""
    return SpanMetric(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        service=span.service,
        name=span.name,
        kind=span.kind,
        start_time_ns=span.start_time_ns,
        duration_ns=span.duration_ns,
        status=span.status,
        sampled=sampled,
    )


def call(
    trace: str,
    caller: Span,
    service: str,
    name: str,
    *,
    ms: float,
    status: str = "UNSET",
    ago_s: float = 60,
    kind: str = "SERVER",
    sampled: bool = True,
) -> Span:
    """Stores a call from ``caller``'s service to ``service``: a client span under
    ``caller`` and the callee's server span under it, as the instrumentors record an HTTP hop."""
    client = add_span(
        trace, caller.service, "POST", kind="CLIENT", parent=caller, ago_s=ago_s, ms=ms + 1, sampled=sampled
    )
    return add_span(
        trace, service, name, kind=kind, parent=client, ago_s=ago_s, ms=ms, status=status, sampled=sampled
    )


# --- random orders, for generate_traces ----------------------------------------------------

SDK = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.45.1",
}
# Outcome → share of orders (they add up to 1): the proportions of a bad day.
OUTCOMES = {
    "confirmed": 0.78,
    "insufficient_stock": 0.07,
    "payment_declined": 0.05,
    "recovered_after_timeout": 0.06,
    "failed_after_timeouts": 0.04,
}
_ERROR_CODES = {402: "payment_declined", 409: "insufficient_stock"}


class SyntheticTrace(TraceBuilder):
    """One random order's trace: its ids, order id and process ids drawn from ``rng`` (a
    seed repeats a run), each span with its process's resource, and its log records."""

    def __init__(self, rng: random.Random, start_ns: int, order_id: str = "") -> None:
        self.rng = rng
        self.order_id = order_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        super().__init__(format(rng.getrandbits(128) | 1, "032x"), base_ns=start_ns)
        self.logs: list[LogRecord] = []
        self.processes = {
            process: {**SDK, "service.namespace": "threadline", "process.pid": rng.randint(1000, 60000)}
            for process in ("web", "worker")
        }

    def new_span_id(self) -> str:
        return format(self.rng.getrandbits(64) | 1, "016x")

    def resource(self, service: str) -> dict:
        process = "worker" if service == "orders-worker" else "web"
        return {**self.processes[process], "service.name": service}

    def log(self, span: Span, level: str, logger: str, message: str) -> None:
        self.logs.append(
            LogRecord(
                trace_id=self.trace_id,
                span_id=span.span_id,
                time_ns=span.end_time_ns,
                level=level,
                logger=logger,
                message=message,
                attributes={"order_id": self.order_id},
                service=span.service,
            )
        )


def checkout_trace(rng: random.Random, start_ns: int) -> SyntheticTrace:
    """One order's trace, its outcome drawn from ``OUTCOMES``: the checkout request, its
    REST hops, the publish of ``orders.finalize_order``, the worker's attempts, then the
    capture or the compensation and the email. A basket of more lines makes more
    statements: about 90 spans on average, from under 40 to over 200. The root span
    carries ``threadline.synthetic = true``."""
    outcome = rng.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
    trace = SyntheticTrace(rng, start_ns)
    # Most baskets hold a few lines, some many: more lines, more statements, bigger traces.
    lines = min(40, int(rng.paretovariate(1.2)) + rng.randint(0, 2))
    skus = [f"SKU-{rng.randint(1, 400):03d}" for _ in range(lines)]
    root, checkout_span, at = _checkout_request(trace, skus)
    reserve_route = "api/inventory/reservations/"
    if outcome == "insufficient_stock":
        _, at = _hop(
            trace,
            checkout_span,
            "inventory",
            reserve_route,
            start=at,
            statements=_reserve(skus[:-1]),
            status=409,
        )
        return _refused(trace, root, checkout_span, at, 409, "insufficient_stock", reserved=False)
    _, at = _hop(trace, checkout_span, "inventory", reserve_route, start=at, statements=_reserve(skus))
    authorization = names.PAYMENT_AUTHORIZE_ROUTE
    if outcome == "payment_declined":
        statements = ['INSERT INTO "payments_payment"']
        start = at + rng.uniform(20, 200)
        _, at = _hop(
            trace, checkout_span, "payments", authorization, start=start, statements=statements, status=402
        )
        return _refused(trace, root, checkout_span, at, 402, "payment_declined", reserved=True)
    statements = ['INSERT INTO "payments_payment"', 'UPDATE "payments_idempotentrequest"']
    _, at = _hop(
        trace,
        checkout_span,
        "payments",
        authorization,
        start=at + rng.uniform(20, 200),
        statements=statements,
    )
    published, at = _place(trace, checkout_span, at)
    trace.end(checkout_span, at + 1)
    trace.end(root, at + 2)
    return _finalize(trace, published, outcome, skus, at + rng.uniform(5, 40))


def _checkout_request(trace: SyntheticTrace, skus: list[str]) -> tuple[Span, Span, float]:
    """The request, its session read, the checkout step and the order's creation; returns
    the request, the step and when the order was created."""
    root = trace.span(
        "POST api/shop/checkout/",
        service="shop",
        start=0,
        ms=1,
        kind="SERVER",
        attributes={
            "http.method": "POST",
            "http.route": "api/shop/checkout/",
            "http.target": "/api/shop/checkout/",
            "http.status_code": 202,
            "threadline.synthetic": True,
        },
    )
    at = _statements(trace, root, 0.5, ['SELECT "django_session"."session_key" FROM "django_session"'])
    step = trace.span(
        "checkout",
        service="shop",
        start=at,
        ms=1,
        parent=root,
        attributes={"order.id": trace.order_id, "order.line_count": len(skus)},
    )
    statements = (
        ['INSERT INTO "orders_order"']
        + ['INSERT INTO "orders_orderline"'] * len(skus)
        + ['INSERT INTO "orders_orderevent"']
    )
    _, at = _hop(trace, step, "orders", "api/orders/", start=at + 1, statements=statements)
    return root, step, at


def _place(trace: SyntheticTrace, checkout_span: Span, at: float) -> tuple[Span, float]:
    """Orders places the order and its outbox publishes ``orders.finalize_order`` through
    Redis; returns the publish and when the place call was answered."""
    place, at = _hop(
        trace,
        checkout_span,
        "orders",
        "api/orders/<uuid:order_id>/place/",
        start=at,
        path=f"api/orders/{trace.order_id}/place/",
        statements=['UPDATE "orders_order" SET "status" = %s', 'INSERT INTO "orders_outboxmessage"'],
    )
    message_id = str(uuid.UUID(int=trace.rng.getrandbits(128)))
    published = publish(
        trace,
        place,
        names.FINALIZE_ORDER_TASK,
        start=at - 2,
        ms=0.3,
        attributes={"messaging.destination": "threadline", "messaging.message_id": message_id},
    )
    trace.span(
        "LPUSH",
        service="orders",
        start=at - 1.9,
        ms=0.2,
        parent=published,
        kind="CLIENT",
        attributes={"db.system": "redis", "db.statement": "LPUSH celery ?", "net.peer.name": "127.0.0.1"},
    )
    return published, at


def _statements(
    trace: SyntheticTrace,
    parent: Span,
    start: float,
    statements: list[str],
    durations: list[float] | None = None,
) -> float:
    """One statement after the other from ``start``, of random durations unless given;
    returns when the last one ended."""
    for statement, ms in zip(statements, durations or _durations(trace, len(statements)), strict=True):
        trace.statement(parent, statement, start=start, ms=ms, attributes={"db.name": "shop.sqlite3"})
        start += ms + 0.05
    return start


def _durations(trace: SyntheticTrace, count: int) -> list[float]:
    return [trace.rng.uniform(0.05, 0.6) for _ in range(count)]


def _hop(
    trace: SyntheticTrace,
    parent: Span,
    service: str,
    route: str,
    *,
    start: float,
    statements: list[str],
    status: int = 200,
    path: str = "",
) -> tuple[Span, float]:
    """A REST hop whose callee runs ``statements`` inside its idempotency bookkeeping;
    returns the server span and when the caller had the answer."""
    latency = trace.rng.uniform(3, 12)  # request and response on the wire
    table = f'"{service}_idempotentrequest"'
    statements = [
        f"SELECT {table}",
        "BEGIN",
        f"INSERT INTO {table}",
        'SAVEPOINT "s1"',
        *statements,
        'RELEASE SAVEPOINT "s1"',
        f"UPDATE {table}",
        "COMMIT",
    ]
    # Drawn first, so the server span is made with its final length.
    durations = _durations(trace, len(statements))
    ms = 0.5 + sum(d + 0.05 for d in durations) + 0.3
    attributes = {
        "http.method": "POST",
        "http.target": f"/{path or route}",
        "http.scheme": "http",
        "net.peer.ip": "127.0.0.1",
        "order.id": trace.order_id,
        **({"error.code": _ERROR_CODES[status]} if status in _ERROR_CODES else {}),
    }
    server = trace.call(
        parent,
        route,
        path,
        service=service,
        start=start,
        ms=ms,
        status=status,
        latency=latency,
        attributes=attributes,
    )
    _statements(trace, server, start + latency / 2 + 0.5, statements, durations)
    return server, start + latency + ms


def _reserve(skus: list[str]) -> list[str]:
    return (
        ['SELECT "inventory_stockitem" FOR UPDATE']
        + [
            'UPDATE "inventory_stockitem" SET "reserved" = ("inventory_stockitem"."reserved" + %s) '
            'WHERE "inventory_stockitem"."sku" = %s'
        ]
        * len(skus)
        + ['INSERT INTO "inventory_reservation"']
    )


def _refused(
    trace: SyntheticTrace,
    root: Span,
    checkout_span: Span,
    at: float,
    status: int,
    code: str,
    *,
    reserved: bool,
) -> SyntheticTrace:
    """A checkout answered 4xx: the order is failed and whatever was held is undone."""
    if reserved:
        _, at = _hop(
            trace,
            checkout_span,
            "inventory",
            names.STOCK_RELEASE_ROUTE,
            start=at,
            path=f"api/inventory/reservations/{trace.order_id}/release/",
            statements=['UPDATE "inventory_stockitem" SET "reserved"', 'UPDATE "inventory_reservation"'],
        )
    _, at = _hop(
        trace,
        checkout_span,
        "orders",
        names.ORDER_FAIL_ROUTE,
        start=at,
        path=f"api/orders/{trace.order_id}/fail/",
        statements=['UPDATE "orders_order" SET "status" = %s'],
    )
    trace.log(checkout_span, "WARNING", "shop.services", f"checkout refused: {code}")
    trace.end(checkout_span, at + 1)
    trace.end(root, at + 2)
    root.attributes["http.status_code"] = status
    return trace


def _finalize(
    trace: SyntheticTrace, published: Span, outcome: str, skus: list[str], at: float
) -> SyntheticTrace:
    """The worker's attempts: timeouts first when the outcome has them, then the
    confirmation (commit stock, capture payment, email) or the compensation."""
    failures = {"recovered_after_timeout": trace.rng.randint(1, 3), "failed_after_timeouts": 4}.get(
        outcome, 0
    )
    attempts = 4 if outcome == "failed_after_timeouts" else failures + 1
    for number in range(1, attempts + 1):
        if number > failures:
            _confirm(trace, published, number, skus, at)
            return trace
        published, at = _timed_out(trace, published, number, last=number == attempts, at=at)
    _compensate(trace, published, skus, at)
    return trace


def _timed_out(
    trace: SyntheticTrace, published: Span, number: int, *, last: bool, at: float
) -> tuple[Span, float]:
    """A finalize attempt whose confirmation UPDATE times out; it publishes the retry, or
    the compensation after the last attempt. Returns that publish and when its task runs."""
    attempt = run(
        trace,
        published,
        names.FINALIZE_ORDER_TASK,
        number,
        start=at,
        ms=1,
        fault="order_db_timeout",
        order_id=trace.order_id,
        attributes={"celery.state": "RETRY"},
        error=DJANGO_DB_TIMEOUT,
    )
    step = _statements(trace, attempt, at + 1, ['SELECT "orders_order"', "BEGIN"])
    ms = 500 + trace.rng.uniform(0, 5)
    trace.statement(
        attempt,
        UPDATE_CONFIRMATION,
        start=step,
        ms=ms,
        error=DB_TIMEOUT,
        attributes={"db.name": "shop.sqlite3"},
    )
    trace.log(
        attempt, "WARNING", "orders.tasks", f"finalize attempt {number} failed: OperationalError: interrupted"
    )
    step += 505
    trace.end(attempt, step + 2)
    task = names.COMPENSATE_ORDER_TASK if last else names.FINALIZE_ORDER_TASK
    retry = publish(trace, attempt, task, start=step, ms=0.5)
    return retry, step + (10 if last else 1000 * 2 ** (number - 1))


def _confirm(trace: SyntheticTrace, published: Span, number: int, skus: list[str], at: float) -> None:
    """A finalize attempt that confirms: commit the stock, capture the payment, email."""
    attempt = run(
        trace,
        published,
        names.FINALIZE_ORDER_TASK,
        number,
        start=at,
        ms=1,
        order_id=trace.order_id,
        attributes={"celery.state": "SUCCESS"},
    )
    step = _statements(
        trace, attempt, at + 1, ['SELECT "orders_order"', "BEGIN", UPDATE_CONFIRMATION, "COMMIT"]
    )
    _, step = _hop(
        trace,
        attempt,
        "inventory",
        "api/inventory/reservations/<uuid:order_id>/commit/",
        start=step,
        path=f"api/inventory/reservations/{trace.order_id}/commit/",
        statements=['UPDATE "inventory_stockitem" SET "sold"'] * len(skus)
        + ['UPDATE "inventory_reservation"'],
    )
    _, step = _hop(
        trace,
        attempt,
        "payments",
        names.PAYMENT_CAPTURE_ROUTE,
        start=step,
        path=f"api/payments/payments/{trace.order_id}/capture/",
        statements=['UPDATE "payments_payment" SET "status" = %s'],
    )
    step = _statements(
        trace, attempt, step, ['UPDATE "orders_order" SET "status" = %s', 'INSERT INTO "orders_orderevent"']
    )
    _email(trace, attempt, step, "confirmed")
    trace.end(attempt, step + 3)


def _compensate(trace: SyntheticTrace, published: Span, skus: list[str], at: float) -> None:
    """``orders.compensate_order``: void the payment, release the stock, fail the order, email."""
    task = run(trace, published, names.COMPENSATE_ORDER_TASK, start=at, ms=1, order_id=trace.order_id)
    step = _statements(trace, task, at + 1, ['SELECT "orders_order"'])
    _, step = _hop(
        trace,
        task,
        "payments",
        names.PAYMENT_CANCEL_ROUTE,
        start=step,
        path=f"api/payments/payments/{trace.order_id}/cancel/",
        statements=['UPDATE "payments_payment" SET "status" = %s'],
    )
    _, step = _hop(
        trace,
        task,
        "inventory",
        names.STOCK_RELEASE_ROUTE,
        start=step,
        path=f"api/inventory/reservations/{trace.order_id}/release/",
        statements=['UPDATE "inventory_stockitem" SET "reserved"'] * len(skus)
        + ['UPDATE "inventory_reservation"'],
    )
    step = _statements(trace, task, step, ['UPDATE "orders_order" SET "status" = %s, "reason" = %s'])
    trace.log(task, "ERROR", "orders.tasks", "order failed: finalize gave up after 4 attempts")
    _email(trace, task, step, "failed")
    trace.end(task, step + 2)


def _email(trace: SyntheticTrace, parent: Span, at: float, kind: str) -> None:
    published = publish(trace, parent, names.SEND_ORDER_EMAIL_TASK, start=at, ms=0.4)
    task = run(
        trace,
        published,
        names.SEND_ORDER_EMAIL_TASK,
        start=at + 3,
        ms=1,
        order_id=trace.order_id,
        attributes={"email.kind": kind},
    )
    end = _statements(trace, task, at + 3.5, ['SELECT "orders_orderevent"', 'UPDATE "orders_orderevent"'])
    trace.end(task, end + trace.rng.uniform(2, 8))
