"""Traces whose diagnosis is known, built as unsaved ``Span`` rows with the names and
attributes the real processes give them (see tests/flows/test_checkout_flow.py)."""

from __future__ import annotations

from telemetry.models import Span

ORDER_ID = "b87e94f3-ca16-409c-9ca3-6eede71cb877"
BASE_NS = 1_800_000_000_000_000_000
MS = 1_000_000
UPDATE_CONFIRMATION = (
    'UPDATE "orders_order" SET "confirmation_code" = %s, "updated_at" = %s '
    'WHERE ("orders_order"."confirmation_code" = %s AND "orders_order"."id" = %s)'
)


class TraceBuilder:
    """Adds spans to one trace; times are milliseconds from the trace's start."""

    def __init__(self, trace_id: str = "4c12b2a6d138e675b96b9719a3bc782b") -> None:
        self.trace_id = trace_id
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
        error: tuple[str, str] | None = None,
        status: str = "",
    ) -> Span:
        start_ns, end_ns = BASE_NS + int(start * MS), BASE_NS + int((start + ms) * MS)
        attrs = {"threadline.service": service, **(attributes or {})}
        span = Span(
            trace_id=self.trace_id,
            span_id=f"{len(self.spans) + 1:016x}",
            parent_span_id=parent.span_id if parent else "",
            name=name,
            service=service,
            kind=kind,
            start_time_ns=start_ns,
            end_time_ns=end_ns,
            duration_ns=end_ns - start_ns,
            status=status or ("ERROR" if error else "UNSET"),
            status_message=f"{error[0].rsplit('.', 1)[-1]}: {error[1]}" if error else "",
            attributes=attrs,
            events=[exception_event(*error, end_ns)] if error else [],
            order_id=str(attrs.get("order.id", "")),
        )
        self.spans.append(span)
        return span

    def statement(self, parent: Span, statement: str, *, start: float, ms: float = 0.3, error=None) -> Span:
        attributes = {"db.system": "sqlite", "db.statement": statement}
        verb = statement.split(None, 1)[0]
        return self.span(
            verb,
            service=parent.service,
            start=start,
            ms=ms,
            parent=parent,
            kind="CLIENT",
            attributes=attributes,
            error=error,
        )

    def call(self, parent: Span, route: str, path: str, *, service: str, start: float, ms: float) -> Span:
        """A REST call from ``parent`` and the callee's server span; returns the server span."""
        url = f"http://127.0.0.1:8000/{path}"
        client = self.span(
            "POST",
            service=parent.service,
            start=start,
            ms=ms + 2,
            parent=parent,
            kind="CLIENT",
            attributes={"http.method": "POST", "http.url": url, "http.status_code": 200},
        )
        return self.span(
            f"POST {route}",
            service=service,
            start=start + 1,
            ms=ms,
            parent=client,
            kind="SERVER",
            attributes={"http.route": route, "http.status_code": 200},
        )

    def failed_call(self, parent: Span, path: str, *, start: float, error: tuple[str, str]) -> Span:
        url = f"http://127.0.0.1:9/{path}"
        return self.span(
            "POST",
            service=parent.service,
            start=start,
            ms=1,
            parent=parent,
            kind="CLIENT",
            attributes={"http.method": "POST", "http.url": url},
            error=error,
        )


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


def checkout(trace: TraceBuilder) -> Span:
    """The checkout request up to the publish of ``orders.finalize_order``; returns the publish."""
    request = trace.span(
        "POST api/shop/checkout/",
        service="shop",
        start=0,
        ms=280,
        kind="SERVER",
        attributes={"http.route": "api/shop/checkout/", "http.status_code": 202},
    )
    step = trace.span(
        "checkout", service="shop", start=50, ms=200, parent=request, attributes={"order.id": ORDER_ID}
    )
    trace.call(
        step,
        "api/inventory/reservations/",
        "api/inventory/reservations/",
        service="inventory",
        start=60,
        ms=10,
    )
    trace.call(
        step,
        "api/payments/authorizations/",
        "api/payments/authorizations/",
        service="payments",
        start=80,
        ms=12,
    )
    place = trace.call(
        step,
        "api/orders/<uuid:order_id>/place/",
        f"api/orders/{ORDER_ID}/place/",
        service="orders",
        start=100,
        ms=80,
    )
    trace.statement(
        place, 'UPDATE "orders_order" SET "status" = %s WHERE "orders_order"."id" = %s', start=110
    )
    return publish(trace, place, "orders.finalize_order", start=170)


def publish(trace: TraceBuilder, parent: Span, task: str, *, start: float) -> Span:
    return trace.span(
        f"apply_async/{task}",
        service=parent.service,
        start=start,
        ms=0.5,
        parent=parent,
        kind="PRODUCER",
        attributes={"celery.action": "apply_async", "celery.task_name": task},
    )


def run(
    trace: TraceBuilder, parent: Span, task: str, attempt: int, *, start: float, ms: float, **kwargs
) -> Span:
    fault = kwargs.pop("fault", None)
    attributes = {
        "celery.attempt": attempt,
        "celery.task_name": task,
        "celery.action": "run",
        "order.id": ORDER_ID,
    }
    if fault:
        attributes["fault.name"] = fault
    return trace.span(
        f"run/{task}",
        service="orders-worker",
        start=start,
        ms=ms,
        parent=parent,
        kind="CONSUMER",
        attributes=attributes,
        **kwargs,
    )


DB_TIMEOUT = ("sqlite3.OperationalError", "interrupted")
DJANGO_DB_TIMEOUT = ("django.db.utils.OperationalError", "interrupted")
UNREACHABLE = ("requests.exceptions.ConnectionError", "[Errno 111] Connection refused")
SERVICE_UNAVAILABLE = ("core.api.ServiceUnavailable", "payments is unreachable")


def db_timeout_attempt(trace: TraceBuilder, parent: Span, attempt: int, *, start: float) -> Span:
    """One finalize attempt whose confirmation UPDATE hits the database's timeout."""
    attempt_span = run(
        trace,
        parent,
        "orders.finalize_order",
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
        "orders.finalize_order",
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
    task = run(
        trace,
        publish(trace, parent, "orders.compensate_order", start=start),
        "orders.compensate_order",
        1,
        start=start + 2,
        ms=45,
    )
    trace.call(
        task,
        "api/payments/payments/<uuid:order_id>/cancel/",
        f"api/payments/payments/{ORDER_ID}/cancel/",
        service="payments",
        start=start + 5,
        ms=8,
    )
    trace.call(
        task,
        "api/inventory/reservations/<uuid:order_id>/release/",
        f"api/inventory/reservations/{ORDER_ID}/release/",
        service="inventory",
        start=start + 18,
        ms=6,
    )
    trace.statement(
        task, 'UPDATE "orders_order" SET "status" = %s, "reason" = %s WHERE id = %s', start=start + 30
    )
    return task


def retried_db_timeouts(attempts: int = 3) -> TraceBuilder:
    """Every finalize attempt times out on the confirmation UPDATE; then compensation.
    Each retry is published from inside the attempt before it, as Celery does."""
    trace = TraceBuilder()
    parent = checkout(trace)
    for attempt in range(1, attempts + 1):
        start = 200 + (attempt - 1) * 500
        attempt_span = db_timeout_attempt(trace, parent, attempt, start=start)
        if attempt < attempts:
            parent = publish(trace, attempt_span, "orders.finalize_order", start=start + 310)
    compensation(trace, attempt_span, start=start + 312)
    return trace


def unreachable_then_db_timeout() -> TraceBuilder:
    """Attempts 1 and 2 cannot reach payments; attempt 3 times out in the database; then
    compensation."""
    trace = TraceBuilder()
    first = unreachable_attempt(trace, checkout(trace), 1, start=200)
    second = unreachable_attempt(
        trace, publish(trace, first, "orders.finalize_order", start=225), 2, start=400
    )
    third = db_timeout_attempt(
        trace, publish(trace, second, "orders.finalize_order", start=425), 3, start=800
    )
    compensation(trace, third, start=1112)
    return trace


def slow_gateway() -> TraceBuilder:
    """A finalize that succeeds, but the payments capture takes 2 s with nothing traced under it."""
    trace = TraceBuilder()
    task = run(trace, checkout(trace), "orders.finalize_order", 1, start=200, ms=2100)
    trace.statement(task, UPDATE_CONFIRMATION, start=205, ms=2)
    trace.call(
        task,
        "api/inventory/reservations/<uuid:order_id>/commit/",
        f"api/inventory/reservations/{ORDER_ID}/commit/",
        service="inventory",
        start=210,
        ms=15,
    )
    trace.call(
        task,
        "api/payments/payments/<uuid:order_id>/capture/",
        f"api/payments/payments/{ORDER_ID}/capture/",
        service="payments",
        start=230,
        ms=2000,
    )
    return trace


def n_plus_one(queries: int = 20) -> TraceBuilder:
    """The product list reading each product's stock with its own SELECT."""
    trace = TraceBuilder()
    request = trace.span(
        "GET api/shop/products/",
        service="shop",
        start=0,
        ms=60,
        kind="SERVER",
        attributes={"http.route": "api/shop/products/", "http.status_code": 200},
    )
    trace.statement(request, 'SELECT "shop_product"."id", "shop_product"."sku" FROM "shop_product"', start=1)
    for n in range(queries):
        trace.statement(
            request,
            'SELECT "inventory_stockitem"."available" FROM "inventory_stockitem" '
            f'WHERE "inventory_stockitem"."id" = {n + 1} LIMIT 21',
            start=3 + n * 2,
        )
    return trace
