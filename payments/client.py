"""How other apps reach payments: typed REST calls, Idempotency-Key = the order id, and the
tasks payments' worker runs for them (a ``TaskMessage`` by name; the caller publishes it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields

from django.conf import settings

from core.service_client import call
from core.tasks import TaskMessage
from instrumentation import names
from payments.errors import PaymentDeclined, PaymentNotFound, PaymentStateConflict

ERRORS = (PaymentDeclined, PaymentNotFound, PaymentStateConflict)


@dataclass(frozen=True)
class PaymentInfo:
    order_id: str
    amount_cents: int
    status: str


@dataclass(frozen=True)
class PaymentTotal:
    count: int
    amount_cents: int


@dataclass(frozen=True)
class PaymentSummary:
    """Payments per status: one authorisation ends captured, voided or refunded (or stays
    authorized); a declined card never was authorised, nor was a payment cancelled before
    any authorisation came (no money)."""

    authorized: PaymentTotal
    captured: PaymentTotal
    voided: PaymentTotal
    refunded: PaymentTotal
    declined: PaymentTotal
    cancelled: PaymentTotal


def _url(path: str) -> str:
    return f"{settings.PAYMENTS_BASE_URL}/api/payments/{path}"


def payment_authorize(*, order_id: uuid.UUID | str, amount_cents: int, token: str) -> PaymentInfo:
    body = {"order_id": str(order_id), "amount_cents": amount_cents, "token": token}
    return _info(
        call("POST", _url("authorizations/"), json=body, errors=ERRORS, idempotency_key=str(order_id))
    )


def payment_capture(*, order_id: uuid.UUID) -> PaymentInfo:
    return _info(
        call(
            "POST",
            _url(f"payments/{order_id}/capture/"),
            errors=ERRORS,
            idempotency_key=f"capture-{order_id}",
        )
    )


def payment_cancel(*, order_id: uuid.UUID) -> PaymentInfo:
    """Void or refund the order's payment; status "cancelled" when the order has not paid
    (an authorisation still on its way is then voided when it lands). Status "none" is
    what a cancel answered 404 before that marker existed, replayed under its key."""
    url = _url(f"payments/{order_id}/cancel/")
    try:
        body = call("POST", url, errors=ERRORS, idempotency_key=f"cancel-{order_id}")
    except PaymentNotFound:
        return PaymentInfo(order_id=str(order_id), amount_cents=0, status="none")
    return _info(body)


def payment_cancel_task(*, order_id: uuid.UUID | str) -> TaskMessage:
    """Ask payments' worker to void or refund the order's payment, as ``payment_cancel``
    does over REST, retried on payments' queue; it reports what it left to orders
    (``orders.record_undo``, step ``payment``)."""
    return TaskMessage(
        names.PAYMENT_CANCEL_TASK, {"order_id": str(order_id), "idempotency_key": f"cancel-{order_id}"}
    )


def payment_capture_task(*, order_id: uuid.UUID | str) -> TaskMessage:
    """Ask payments' worker to capture the order's authorised payment, retried on payments'
    queue; it reports the outcome to orders (``orders.record_step``, step ``capture``)."""
    return TaskMessage(
        names.PAYMENT_CAPTURE_TASK, {"order_id": str(order_id), "idempotency_key": f"capture-{order_id}"}
    )


# Order ids per summary call: keeps the query string (~46 bytes an id) well inside the
# 4 KiB request line that servers such as gunicorn accept.
SUMMARY_ORDER_IDS_PER_CALL = 50


def payment_summary(*, order_ids: Sequence[uuid.UUID | str] | None = None) -> PaymentSummary:
    """Counts and sums per status, of all payments or of ``order_ids``' only (asked for in
    batches and added up). A read (GET): the payments_unreachable fault refuses the
    checkout's calls, which all change something, and must not blind an observer."""
    url = _url("summary/")
    if order_ids is None:
        return _summary([call("GET", url, errors=ERRORS)])
    ids, step = [str(order_id) for order_id in order_ids], SUMMARY_ORDER_IDS_PER_CALL
    batches = [ids[start : start + step] for start in range(0, len(ids), step)]
    return _summary([call("GET", url, params={"order_id": batch}, errors=ERRORS) for batch in batches])


def _summary(bodies: list[dict]) -> PaymentSummary:
    def total(status: str) -> PaymentTotal:
        return PaymentTotal(
            count=sum(body[status]["count"] for body in bodies),
            amount_cents=sum(body[status]["amount_cents"] for body in bodies),
        )

    return PaymentSummary(**{field.name: total(field.name) for field in fields(PaymentSummary)})


def _info(body: dict) -> PaymentInfo:
    return PaymentInfo(order_id=body["order_id"], amount_cents=body["amount_cents"], status=body["status"])
