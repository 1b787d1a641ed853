"""How other apps reach orders: typed REST calls and the task their workers report back to
orders with (a ``TaskMessage`` by name). The only import they may make."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from core.service_client import call
from core.tasks import TaskMessage
from instrumentation import names
from orders.errors import IdempotencyKeyReused, OrderNotFound, OrderStateConflict

ERRORS = (IdempotencyKeyReused, OrderNotFound, OrderStateConflict)


@dataclass(frozen=True)
class OrderLineInfo:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class OrderInfo:
    order_id: str
    status: str
    reason: str
    email: str
    customer_tier: str
    total_cents: int
    currency: str
    trace_id: str
    confirmation_code: str
    lines: tuple[OrderLineInfo, ...]
    events: tuple[dict, ...]


def _url(path: str) -> str:
    return f"{settings.ORDERS_BASE_URL}/api/orders/{path}"


def order_create(
    *,
    email: str,
    lines: list[OrderLineInfo],
    customer_tier: str = "standard",
    idempotency_key: str | None = None,
) -> OrderInfo:
    """Store a pending order; ``customer_tier`` is the caller's word for the customer's tier
    (``free``, ``standard`` or ``premium``), recorded on the order as a value."""
    body = {
        "email": email,
        "lines": [line.__dict__ for line in lines],
        "customer_tier": customer_tier,
        "idempotency_key": idempotency_key,
    }
    return _info(call("POST", _url(""), json=body, errors=ERRORS))


def order_get(*, order_id: uuid.UUID | str) -> OrderInfo:
    return _info(call("GET", _url(f"{order_id}/"), errors=ERRORS))


def order_place(*, order_id: uuid.UUID | str) -> OrderInfo:
    return _info(call("POST", _url(f"{order_id}/place/"), errors=ERRORS))


def order_fail(*, order_id: uuid.UUID | str, reason: str) -> OrderInfo:
    return _info(call("POST", _url(f"{order_id}/fail/"), json={"reason": reason}, errors=ERRORS))


def undo_reported_task(
    *, order_id: uuid.UUID | str, step: str, outcome: str, idempotency_key: str
) -> TaskMessage:
    """Tell orders that an undo step of its compensation is done: ``step`` is ``payment``
    or ``stock``, ``outcome`` what it left (``voided``, ``refunded``, ``released``, ...),
    ``idempotency_key`` the step's own. Orders fails the order once both steps reported."""
    return TaskMessage(
        names.UNDO_REPORTED_TASK,
        {"order_id": str(order_id), "step": step, "outcome": outcome, "idempotency_key": idempotency_key},
    )


def step_reported_task(
    *, order_id: uuid.UUID | str, step: str, outcome: str, detail: str, idempotency_key: str
) -> TaskMessage:
    """Tell orders that a step of its confirmation ended: ``step`` is ``capture`` or
    ``commit``, ``outcome`` ``done`` or ``failed`` (for good: the order is compensated),
    ``detail`` what happened in a few words. Orders confirms the order once both are done."""
    return TaskMessage(
        names.STEP_REPORTED_TASK,
        {
            "order_id": str(order_id),
            "step": step,
            "outcome": outcome,
            "detail": detail,
            "idempotency_key": idempotency_key,
        },
    )


def _info(body: dict) -> OrderInfo:
    return OrderInfo(
        order_id=body["order_id"],
        status=body["status"],
        reason=body["reason"],
        email=body["email"],
        customer_tier=body["customer_tier"],
        total_cents=body["total_cents"],
        currency=body["currency"],
        trace_id=body["trace_id"],
        confirmation_code=body["confirmation_code"],
        lines=tuple(OrderLineInfo(**line) for line in body["lines"]),
        events=tuple(body["events"]),
    )
