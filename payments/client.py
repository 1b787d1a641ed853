"""How other apps reach payments: typed REST calls, Idempotency-Key = the order id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from config.service_client import call
from payments.errors import PaymentDeclined, PaymentNotFound, PaymentStateConflict

ERRORS = (PaymentDeclined, PaymentNotFound, PaymentStateConflict)


@dataclass(frozen=True)
class PaymentInfo:
    order_id: str
    amount_cents: int
    status: str


def _url(path: str) -> str:
    return f"{settings.PAYMENTS_BASE_URL}/api/payments/{path}"


def payment_authorize(*, order_id: uuid.UUID, amount_cents: int, token: str) -> PaymentInfo:
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
    return _info(
        call(
            "POST", _url(f"payments/{order_id}/cancel/"), errors=ERRORS, idempotency_key=f"cancel-{order_id}"
        )
    )


def _info(body: dict) -> PaymentInfo:
    return PaymentInfo(order_id=body["order_id"], amount_cents=body["amount_cents"], status=body["status"])
