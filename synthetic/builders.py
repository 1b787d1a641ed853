"""Synthetic checkout traces, shaped like the ones the running shop stores, to fill the
span store for the viewer's speed benchmark (``manage.py generate_traces``).

Each trace is one order's path as the processes record it: the checkout request, its REST
hops (client span, server span, the statements behind it), the publish of
``orders.finalize_order``, the worker's attempts, then the capture or the compensation
and the email. Names, kinds, attributes and resources follow the instrumentors' (Django,
requests, Celery, sqlite3, Redis). Outcomes come in the proportions of a bad day:
most orders are confirmed; some run out of stock or are declined at checkout; some hit a
database timeout in finalize, and either recover on a later attempt or are compensated.
A basket of more lines makes more statements: traces hold about 90 spans on average,
from under 40 to over 200. Every root span carries ``threadline.synthetic = true``.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from telemetry.models import LogRecord, Span

MS = 1_000_000
SDK = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.45.1",
}
HOST = "http://127.0.0.1:8000"
UPDATE_CONFIRMATION = (
    'UPDATE "orders_order" SET "confirmation_code" = %s, "updated_at" = %s WHERE ("orders_order"."id" = %s '
    'AND "orders_order"."status" = %s)'
)
# Outcome → share of orders (they add up to 1).
OUTCOMES = {
    "confirmed": 0.78,
    "insufficient_stock": 0.07,
    "payment_declined": 0.05,
    "recovered_after_timeout": 0.06,
    "failed_after_timeouts": 0.04,
}


@dataclass
class SyntheticTrace:
    """One trace's spans and log records, times in nanoseconds from ``start_ns``."""

    rng: random.Random
    start_ns: int
    order_id: str = ""  # drawn from ``rng`` when not given, so a seed repeats a run
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.order_id = self.order_id or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.trace_id = format(self.rng.getrandbits(128) | 1, "032x")
        self.resources = {
            process: {**SDK, "service.namespace": "threadline", "process.pid": self.rng.randint(1000, 60000)}
            for process in ("web", "worker")
        }

    def span(
        self,
        name: str,
        service: str,
        *,
        at: float,
        ms: float,
        parent: Span | None = None,
        kind: str = "INTERNAL",
        attributes: dict | None = None,
        error: tuple[str, str] | None = None,
    ) -> Span:
        start = self.start_ns + int(at * MS)
        end = start + max(1, int(ms * MS))
        attrs = {"threadline.service": service, **(attributes or {})}
        process = "worker" if service == "orders-worker" else "web"
        row = Span(
            trace_id=self.trace_id,
            span_id=format(self.rng.getrandbits(64) | 1, "016x"),
            parent_span_id=parent.span_id if parent else "",
            name=name,
            service=service,
            kind=kind,
            start_time_ns=start,
            end_time_ns=end,
            duration_ns=end - start,
            status="ERROR" if error else "UNSET",
            status_message=f"{error[0].rsplit('.', 1)[-1]}: {error[1]}" if error else "",
            attributes=attrs,
            events=[_exception(error, end)] if error else [],
            links=[],
            resource={**self.resources[process], "service.name": service},
            order_id=str(attrs.get("order.id", "")),
        )
        self.spans.append(row)
        return row

    def publish(
        self, task: str, service: str, *, at: float, ms: float, parent: Span, attributes=None
    ) -> Span:
        """A Celery publish (``apply_async``) of ``task``."""
        return self.span(
            f"apply_async/{task}",
            service,
            at=at,
            ms=ms,
            parent=parent,
            kind="PRODUCER",
            attributes={"celery.action": "apply_async", "celery.task_name": task, **(attributes or {})},
        )

    def run(self, task: str, *, at: float, parent: Span, attributes=None, error=None) -> Span:
        """The worker's run of ``task``, delivered by ``parent`` (its publish)."""
        return self.span(
            f"run/{task}",
            "orders-worker",
            at=at,
            ms=1,
            parent=parent,
            kind="CONSUMER",
            attributes={
                "celery.action": "run",
                "celery.task_name": task,
                "order.id": self.order_id,
                **(attributes or {}),
            },
            error=error,
        )

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

    def statements(self, parent: Span, service: str, at: float, statements: list[str]) -> float:
        """One client span per statement, back to back from ``at``; returns the end."""
        for statement in statements:
            ms = self.rng.uniform(0.05, 0.6)
            self.span(
                statement.split(None, 1)[0],
                service,
                at=at,
                ms=ms,
                parent=parent,
                kind="CLIENT",
                attributes={"db.system": "sqlite", "db.name": "shop.sqlite3", "db.statement": statement},
            )
            at += ms + 0.05
        return at

    def call(
        self,
        parent: Span,
        service: str,
        route: str,
        *,
        at: float,
        statements: list[str],
        status: int = 200,
        path: str = "",
    ) -> tuple[Span, float]:
        """A REST hop: the caller's client span, the callee's server span and its
        statements. Returns the server span and the time the hop ended."""
        url = f"{HOST}/{path or route}"
        latency = self.rng.uniform(3, 12)  # request and response on the wire
        client = self.span(
            "POST",
            parent.service,
            at=at,
            ms=1,
            parent=parent,
            kind="CLIENT",
            attributes={"http.method": "POST", "http.url": url, "http.status_code": status},
        )
        server = self.span(
            f"POST {route}",
            service,
            at=at + latency / 2,
            ms=1,
            parent=client,
            kind="SERVER",
            attributes={
                "http.method": "POST",
                "http.route": route,
                "http.target": f"/{path or route}",
                "http.status_code": status,
                "http.scheme": "http",
                "net.peer.ip": "127.0.0.1",
                "order.id": self.order_id,
                **({"error.code": _ERROR_CODES[status]} if status in _ERROR_CODES else {}),
            },
        )
        table = f'"{service}_idempotentrequest"'
        end = self.statements(
            server,
            service,
            at + latency / 2 + 0.5,
            [
                f"SELECT {table}",
                "BEGIN",
                f"INSERT INTO {table}",
                'SAVEPOINT "s1"',
                *statements,
                'RELEASE SAVEPOINT "s1"',
                f"UPDATE {table}",
                "COMMIT",
            ],
        )
        _end_at(server, self.start_ns, end + 0.3)
        _end_at(client, self.start_ns, end + latency / 2)
        return server, end + latency / 2


_ERROR_CODES = {402: "payment_declined", 409: "insufficient_stock"}


def _end_at(span: Span, base_ns: int, at: float) -> None:
    span.end_time_ns = base_ns + int(at * MS)
    span.duration_ns = span.end_time_ns - span.start_time_ns


def _exception(error: tuple[str, str], time_ns: int) -> dict:
    kind, message = error
    return {
        "name": "exception",
        "time_ns": time_ns,
        "attributes": {
            "exception.type": kind,
            "exception.message": message,
            "exception.stacktrace": "Traceback (most recent call last):\n"
            '  File "orders/services.py", line 130, in _write_confirmation\n'
            f"{kind}: {message}",
            "exception.escaped": "False",
        },
    }


def checkout_trace(rng: random.Random, start_ns: int) -> SyntheticTrace:
    """One order's trace, its outcome drawn from ``OUTCOMES``."""
    outcome = rng.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
    trace = SyntheticTrace(rng, start_ns)
    # Most baskets hold a few lines, some many: more lines, more statements, bigger traces.
    lines = min(40, int(rng.paretovariate(1.2)) + rng.randint(0, 2))
    skus = [f"SKU-{rng.randint(1, 400):03d}" for _ in range(lines)]
    root = trace.span(
        "POST api/shop/checkout/",
        "shop",
        at=0,
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
    at = trace.statements(root, "shop", 0.5, ['SELECT "django_session"."session_key" FROM "django_session"'])
    checkout = trace.span(
        "checkout",
        "shop",
        at=at,
        ms=1,
        parent=root,
        attributes={"order.id": trace.order_id, "order.line_count": len(skus)},
    )
    _, at = trace.call(
        checkout,
        "orders",
        "api/orders/",
        at=at + 1,
        statements=['INSERT INTO "orders_order"']
        + ['INSERT INTO "orders_orderline"'] * len(skus)
        + ['INSERT INTO "orders_orderevent"'],
    )
    reserve_route = "api/inventory/reservations/"
    if outcome == "insufficient_stock":
        _, at = trace.call(
            checkout, "inventory", reserve_route, at=at, statements=_reserve(skus[:-1]), status=409
        )
        return _refused(trace, root, checkout, at, 409, "insufficient_stock", reserved=False)
    _, at = trace.call(checkout, "inventory", reserve_route, at=at, statements=_reserve(skus))
    authorization = "api/payments/authorizations/"
    if outcome == "payment_declined":
        _, at = trace.call(
            checkout,
            "payments",
            authorization,
            at=at + rng.uniform(20, 200),
            statements=['INSERT INTO "payments_payment"'],
            status=402,
        )
        return _refused(trace, root, checkout, at, 402, "payment_declined", reserved=True)
    _, at = trace.call(
        checkout,
        "payments",
        authorization,
        at=at + rng.uniform(20, 200),
        statements=['INSERT INTO "payments_payment"', 'UPDATE "payments_idempotentrequest"'],
    )
    place_route = "api/orders/<uuid:order_id>/place/"
    place, at = trace.call(
        checkout,
        "orders",
        place_route,
        at=at,
        path=f"api/orders/{trace.order_id}/place/",
        statements=['UPDATE "orders_order" SET "status" = %s', 'INSERT INTO "orders_outboxmessage"'],
    )
    message_id = str(uuid.UUID(int=rng.getrandbits(128)))
    publish = trace.publish(
        "orders.finalize_order",
        "orders",
        at=at - 2,
        ms=0.3,
        parent=place,
        attributes={"messaging.destination": "threadline", "messaging.message_id": message_id},
    )
    trace.span(
        "LPUSH",
        "orders",
        at=at - 1.9,
        ms=0.2,
        parent=publish,
        kind="CLIENT",
        attributes={"db.system": "redis", "db.statement": "LPUSH celery ?", "net.peer.name": "127.0.0.1"},
    )
    _end_at(checkout, trace.start_ns, at + 1)
    _end_at(root, trace.start_ns, at + 2)
    return _finalize(trace, publish, outcome, skus, at + rng.uniform(5, 40))


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
    trace: SyntheticTrace, root: Span, checkout: Span, at: float, status: int, code: str, *, reserved: bool
):
    """A checkout answered 4xx: the order is failed and whatever was held is undone."""
    if reserved:
        _, at = trace.call(
            checkout,
            "inventory",
            "api/inventory/reservations/<uuid:order_id>/release/",
            at=at,
            path=f"api/inventory/reservations/{trace.order_id}/release/",
            statements=['UPDATE "inventory_stockitem" SET "reserved"', 'UPDATE "inventory_reservation"'],
        )
    _, at = trace.call(
        checkout,
        "orders",
        "api/orders/<uuid:order_id>/fail/",
        at=at,
        path=f"api/orders/{trace.order_id}/fail/",
        statements=['UPDATE "orders_order" SET "status" = %s'],
    )
    trace.log(checkout, "WARNING", "shop.services", f"checkout refused: {code}")
    _end_at(checkout, trace.start_ns, at + 1)
    _end_at(root, trace.start_ns, at + 2)
    root.attributes["http.status_code"] = status
    return trace


def _finalize(
    trace: SyntheticTrace, publish: Span, outcome: str, skus: list[str], at: float
) -> SyntheticTrace:
    """The worker's attempts: timeouts first when the outcome has them, then the
    confirmation (commit stock, capture payment, email) or the compensation."""
    rng = trace.rng
    failures = {"recovered_after_timeout": rng.randint(1, 3), "failed_after_timeouts": 4}.get(outcome, 0)
    attempts = 4 if outcome == "failed_after_timeouts" else failures + 1
    for number in range(1, attempts + 1):
        fails = number <= failures
        run = trace.run(
            "orders.finalize_order",
            at=at,
            parent=publish,
            attributes={
                "celery.state": "RETRY" if fails else "SUCCESS",
                "celery.attempt": number,
                **({"fault.name": "order_db_timeout"} if fails else {}),
            },
            error=("django.db.utils.OperationalError", "interrupted") if fails else None,
        )
        step = trace.statements(run, "orders-worker", at + 1, ['SELECT "orders_order"', "BEGIN"])
        if fails:
            trace.span(
                "UPDATE",
                "orders-worker",
                at=step,
                ms=500 + rng.uniform(0, 5),
                parent=run,
                kind="CLIENT",
                attributes={
                    "db.system": "sqlite",
                    "db.name": "shop.sqlite3",
                    "db.statement": UPDATE_CONFIRMATION,
                },
                error=("sqlite3.OperationalError", "interrupted"),
            )
            trace.log(
                run,
                "WARNING",
                "orders.tasks",
                f"finalize attempt {number} failed: OperationalError: interrupted",
            )
            step += 505
            _end_at(run, trace.start_ns, step + 2)
            last = number == attempts
            next_task = "orders.compensate_order" if last else "orders.finalize_order"
            publish = trace.publish(next_task, "orders-worker", at=step, ms=0.5, parent=run)
            at = step + (10 if last else 1000 * 2 ** (number - 1))
            continue
        step = trace.statements(run, "orders-worker", step, [UPDATE_CONFIRMATION, "COMMIT"])
        _, step = trace.call(
            run,
            "inventory",
            "api/inventory/reservations/<uuid:order_id>/commit/",
            at=step,
            path=f"api/inventory/reservations/{trace.order_id}/commit/",
            statements=['UPDATE "inventory_stockitem" SET "sold"'] * len(skus)
            + ['UPDATE "inventory_reservation"'],
        )
        _, step = trace.call(
            run,
            "payments",
            "api/payments/payments/<uuid:order_id>/capture/",
            at=step,
            path=f"api/payments/payments/{trace.order_id}/capture/",
            statements=['UPDATE "payments_payment" SET "status" = %s'],
        )
        step = trace.statements(
            run,
            "orders-worker",
            step,
            ['UPDATE "orders_order" SET "status" = %s', 'INSERT INTO "orders_orderevent"'],
        )
        _email(trace, run, step, "confirmed")
        _end_at(run, trace.start_ns, step + 3)
        return trace
    compensation = trace.run("orders.compensate_order", at=at, parent=publish)
    step = trace.statements(compensation, "orders-worker", at + 1, ['SELECT "orders_order"'])
    _, step = trace.call(
        compensation,
        "payments",
        "api/payments/payments/<uuid:order_id>/cancel/",
        at=step,
        path=f"api/payments/payments/{trace.order_id}/cancel/",
        statements=['UPDATE "payments_payment" SET "status" = %s'],
    )
    _, step = trace.call(
        compensation,
        "inventory",
        "api/inventory/reservations/<uuid:order_id>/release/",
        at=step,
        path=f"api/inventory/reservations/{trace.order_id}/release/",
        statements=['UPDATE "inventory_stockitem" SET "reserved"'] * len(skus)
        + ['UPDATE "inventory_reservation"'],
    )
    step = trace.statements(
        compensation, "orders-worker", step, ['UPDATE "orders_order" SET "status" = %s, "reason" = %s']
    )
    trace.log(compensation, "ERROR", "orders.tasks", "order failed: finalize gave up after 4 attempts")
    _email(trace, compensation, step, "failed")
    _end_at(compensation, trace.start_ns, step + 2)
    return trace


def _email(trace: SyntheticTrace, parent: Span, at: float, kind: str) -> None:
    publish = trace.publish("orders.send_order_email", "orders-worker", at=at, ms=0.4, parent=parent)
    run = trace.run("orders.send_order_email", at=at + 3, parent=publish, attributes={"email.kind": kind})
    end = trace.statements(
        run, "orders-worker", at + 3.5, ['SELECT "orders_orderevent"', 'UPDATE "orders_orderevent"']
    )
    _end_at(run, trace.start_ns, end + trace.rng.uniform(2, 8))
