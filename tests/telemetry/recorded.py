"""Traces recorded with a real OpenTelemetry SDK ``TracerProvider`` of their own (not the
test process's global one) at chosen times, and turned into store rows the way the
server does it: ``StoreSpanExporter`` (``store()``) or ``span_to_row`` (``rows()``).

``failed_order`` and ``confirmed_order`` give the shape the real processes produce
(tests/flows/test_checkout_flow.py): the checkout request, its REST hops, the publish,
each finalize attempt and, for the failed one, the timed-out UPDATE and the compensation.
"""

from __future__ import annotations

import itertools

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from telemetry.models import Span
from telemetry.store.exporter import StoreSpanExporter, span_to_row

BASE_NS = 1_800_000_000 * 1_000_000_000
MS = 1_000_000
UPDATE_CONFIRMATION = 'UPDATE "orders_order" SET "confirmation_code" = %s WHERE "orders_order"."id" = %s'
OUTBOX_DELIVERED = (
    'UPDATE "orders_outboxmessage" SET "delivered_at" = %s WHERE "orders_outboxmessage"."id" = %s'
)
_bases = itertools.count()


class DriverError(Exception):
    """Stands in for the driver's error; recorded under the driver's type name."""


class Recorder:
    """One trace made of SDK spans; times are milliseconds after ``base_ns``."""

    def __init__(self, base_ns: int | None = None, process: str = "shop") -> None:
        self.base_ns = BASE_NS + next(_bases) * 60_000 * MS if base_ns is None else base_ns
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": process, "service.namespace": "threadline"})
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests.telemetry.recorded")

    def span(
        self,
        name: str,
        *,
        service: str,
        start: float,
        ms: float,
        parent: trace.Span | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: dict | None = None,
        error: tuple[str, str] | None = None,
    ) -> trace.Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(
            name,
            context=context,
            kind=kind,
            attributes={"threadline.service": service, **(attributes or {})},
            start_time=self.at(start),
        )
        if error:
            kind_name, message = error
            try:
                raise DriverError(message)
            except DriverError as exc:
                span.record_exception(
                    exc, attributes={"exception.type": kind_name}, timestamp=self.at(start + ms)
                )
            span.set_status(Status(StatusCode.ERROR, f"{kind_name.rsplit('.', 1)[-1]}: {message}"))
        span.end(end_time=self.at(start + ms))
        return span

    def at(self, ms: float) -> int:
        return self.base_ns + int(ms * MS)

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


def checkout(rec: Recorder, order_id: str) -> trace.Span:
    """The checkout request up to its publish of ``orders.finalize_order``; returns the publish."""
    request = rec.span(
        "POST api/shop/checkout/",
        service="shop",
        start=0,
        ms=120,
        kind=SpanKind.SERVER,
        attributes={"http.route": "api/shop/checkout/", "http.status_code": 202},
    )
    step = rec.span(
        "checkout", service="shop", start=5, ms=110, parent=request, attributes={"order.id": order_id}
    )
    for offset, service, route in (
        (10, "orders", "api/orders/"),
        (30, "inventory", "api/inventory/reservations/"),
        (50, "payments", "api/payments/authorizations/"),
    ):
        call(rec, step, service, route, start=offset, ms=15, order_id=order_id)
    place = call(rec, step, "orders", "api/orders/<uuid:order_id>/place/", start=70, ms=40, order_id=order_id)
    publish = rec.span(
        "apply_async/orders.finalize_order",
        service="orders",
        start=100,
        ms=1,
        parent=place,
        kind=SpanKind.PRODUCER,
        attributes={"celery.task_name": "orders.finalize_order"},
    )
    # Runs while the task is already on its way: not what the trace waited for.
    rec.span(
        "UPDATE",
        service="orders",
        start=103,
        ms=1,
        parent=place,
        kind=SpanKind.CLIENT,
        attributes={"db.system": "sqlite", "db.statement": OUTBOX_DELIVERED},
    )
    return publish


def call(
    rec: Recorder, parent: trace.Span, service: str, route: str, *, start: float, ms: float, order_id: str
):
    """A REST call and the callee's server span; returns the server span."""
    client = rec.span(
        "POST",
        service=parent.attributes["threadline.service"],
        start=start,
        ms=ms,
        parent=parent,
        kind=SpanKind.CLIENT,
        attributes={
            "http.method": "POST",
            "http.url": f"http://127.0.0.1:8000/{route}",
            "http.status_code": 200,
        },
    )
    return rec.span(
        f"POST {route}",
        service=service,
        start=start + 1,
        ms=ms - 2,
        parent=client,
        kind=SpanKind.SERVER,
        attributes={"http.route": route, "http.status_code": 200, "order.id": order_id},
    )


def attempt(rec: Recorder, parent: trace.Span, number: int, *, start: float, order_id: str, fails: bool):
    """One run of ``orders.finalize_order``: its UPDATE times out when ``fails``."""
    run = rec.span(
        "run/orders.finalize_order",
        service="orders-worker",
        start=start,
        ms=320 if fails else 60,
        parent=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "celery.attempt": number,
            "order.id": order_id,
            **({"fault.name": "order_db_timeout"} if fails else {}),
        },
        error=("django.db.utils.OperationalError", "interrupted") if fails else None,
    )
    rec.span(
        "UPDATE",
        service="orders-worker",
        start=start + 5,
        ms=300 if fails else 1,
        parent=run,
        kind=SpanKind.CLIENT,
        attributes={"db.system": "sqlite", "db.statement": UPDATE_CONFIRMATION},
        error=("sqlite3.OperationalError", "interrupted") if fails else None,
    )
    return run


def failed_order(rec: Recorder, order_id: str = "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01", attempts: int = 2):
    """Every finalize attempt times out; compensation voids and releases. Returns the
    spans that matter by name: ``first_update``, ``attempts``, ``compensation``."""
    publish = checkout(rec, order_id)
    runs, start = [], 130.0
    for number in range(1, attempts + 1):
        run = attempt(rec, publish, number, start=start, order_id=order_id, fails=True)
        runs.append(run)
        publish = rec.span(
            "apply_async/orders.compensate_order"
            if number == attempts
            else "apply_async/orders.finalize_order",
            service="orders-worker",
            start=start + 318,
            ms=1,
            parent=run,
            kind=SpanKind.PRODUCER,
        )
        start += 400
    compensation = rec.span(
        "run/orders.compensate_order",
        service="orders-worker",
        start=start,
        ms=50,
        parent=publish,
        kind=SpanKind.CONSUMER,
        attributes={"order.id": order_id},
    )
    call(
        rec,
        compensation,
        "payments",
        "api/payments/payments/<uuid:order_id>/cancel/",
        start=start + 5,
        ms=15,
        order_id=order_id,
    )
    release = "api/inventory/reservations/<uuid:order_id>/release/"
    call(rec, compensation, "inventory", release, start=start + 25, ms=15, order_id=order_id)
    return {"attempts": runs, "compensation": compensation}


def confirmed_order(rec: Recorder, order_id: str = "5c1d7d8e-2b1a-4d8e-9d7a-1a2b3c4d5e6f"):
    publish = checkout(rec, order_id)
    run = attempt(rec, publish, 1, start=130, order_id=order_id, fails=False)
    call(
        rec,
        run,
        "inventory",
        "api/inventory/reservations/<uuid:order_id>/commit/",
        start=140,
        ms=15,
        order_id=order_id,
    )
    call(
        rec,
        run,
        "payments",
        "api/payments/payments/<uuid:order_id>/capture/",
        start=160,
        ms=15,
        order_id=order_id,
    )
    return {"attempts": [run]}
