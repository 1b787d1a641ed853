"""Payment writes. Every operation is idempotent per order: the order id is the key.

The gateway is called outside any database transaction (it is a network call in
spirit); the row is written after it answers. An authorisation can outlive its caller's
read timeout and land after the order was given up and its payment cancelled: the cancel
leaves a ``cancelled`` row, and the one-row-per-order unique constraint decides which of
the two was first, so the late authorisation is voided instead of standing forever.
"""

from __future__ import annotations

import logging
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from instrumentation import attributes
from instrumentation.context import current_span
from payments import gateway
from payments.errors import PaymentDeclined, PaymentNotFound, PaymentStateConflict
from payments.models import Payment

logger = logging.getLogger(__name__)
Status = Payment.Status
# A payment in one of these was undone (or cancelled before it existed): never authorised again.
UNDONE = (Status.CANCELLED, Status.VOIDED, Status.REFUNDED)


def payment_authorize(*, order_id: uuid.UUID, amount_cents: int, token: str) -> Payment:
    """Authorise once per order. A repeat returns (or re-raises) the first answer; an order
    whose payment was cancelled, even while this authorisation was at the gateway, is
    refused, and an approval that came too late is voided."""
    current_span().set_attribute(attributes.PAYMENT_AMOUNT_CENTS, amount_cents)
    payment = Payment.objects.filter(order_id=order_id).first()
    if payment is None:
        answer = gateway.authorize(token=token, amount_cents=amount_cents, idempotency_key=str(order_id))
        payment = _record_authorization(order_id, amount_cents, answer)
        if payment.status == Status.CANCELLED and answer.approved:
            payment = _void_late_authorization(payment, amount_cents, answer)
    if payment.status in UNDONE:
        raise PaymentStateConflict(
            f"The payment of order {order_id} was cancelled ({payment.status}); it is not authorised again."
        )
    if payment.amount_cents != amount_cents:
        raise PaymentStateConflict(
            f"Order {order_id} was authorised for {payment.amount_cents} cents, not {amount_cents}."
        )
    if payment.status == Status.DECLINED:
        raise PaymentDeclined(
            f"The card was declined ({payment.decline_reason}).", extra={"reason": payment.decline_reason}
        )
    return payment


def _record_authorization(order_id: uuid.UUID, amount_cents: int, answer: gateway.GatewayAnswer) -> Payment:
    try:
        with transaction.atomic():
            return Payment.objects.create(
                order_id=order_id,
                amount_cents=amount_cents,
                status=Status.AUTHORIZED if answer.approved else Status.DECLINED,
                gateway_reference=answer.reference,
                decline_reason=answer.reason,
            )
    except IntegrityError:  # a concurrent call for the same order won, or a cancel did; its row stands
        return Payment.objects.get(order_id=order_id)


def _void_late_authorization(marker: Payment, amount_cents: int, answer: gateway.GatewayAnswer) -> Payment:
    """The gateway approved after the order's payment was cancelled. Record the approval
    on the marker first (if the void then fails, an authorised row shows it; nothing is
    held unseen), then void it as any cancel would."""
    Payment.objects.filter(pk=marker.pk, status=Status.CANCELLED).update(
        status=Status.AUTHORIZED,
        amount_cents=amount_cents,
        gateway_reference=answer.reference,
        updated_at=timezone.now(),
    )
    logger.warning("payment of order %s: authorised after it was cancelled; voiding it", marker.order_id)
    return payment_cancel(order_id=marker.order_id)


def payment_capture(*, order_id: uuid.UUID) -> Payment:
    payment = _get(order_id)
    if payment.status == Status.CAPTURED:
        return payment
    if payment.status != Status.AUTHORIZED:
        raise PaymentStateConflict(f"Cannot capture a payment that is {payment.status}.")
    gateway.capture(reference=payment.gateway_reference, amount_cents=payment.amount_cents)
    if not _moved(payment, Status.AUTHORIZED, Status.CAPTURED) and payment.status != Status.CAPTURED:
        # A cancel won the race (the payment is voided now): the capture must not count.
        raise PaymentStateConflict(f"The payment was {payment.status} while it was being captured.")
    return payment


def payment_cancel(*, order_id: uuid.UUID) -> Payment:
    """Undo the money side of an order: void an authorisation, refund a capture.
    Cancelling twice changes nothing. An order with no payment yet gets a ``cancelled``
    marker, so an authorisation still on its way is voided when it lands. If a capture
    wins the race against the void, the second round refunds it."""
    # get_or_create inserts under the unique order id: if an authorisation is recorded
    # between its read and its insert, the insert fails and that authorisation is read
    # back and voided below. Either way exactly one of the two rows exists.
    payment, _ = Payment.objects.get_or_create(
        order_id=order_id, defaults={"amount_cents": 0, "status": Status.CANCELLED}
    )
    for _ in range(2):
        if payment.status not in (Status.AUTHORIZED, Status.CAPTURED):
            return payment
        if payment.status == Status.AUTHORIZED:
            gateway.void(reference=payment.gateway_reference)
            if _moved(payment, Status.AUTHORIZED, Status.VOIDED):
                return payment
        else:
            gateway.refund(reference=payment.gateway_reference, amount_cents=payment.amount_cents)
            if _moved(payment, Status.CAPTURED, Status.REFUNDED):
                return payment
    return payment


def _moved(payment: Payment, source: str, target: str) -> bool:
    """Conditional update, so two concurrent calls cannot both move the payment; the
    payment is re-read either way. False when another call moved it first."""
    moved = Payment.objects.filter(pk=payment.pk, status=source).update(
        status=target, updated_at=timezone.now()
    )
    payment.refresh_from_db()
    return bool(moved)


def _get(order_id: uuid.UUID) -> Payment:
    try:
        return Payment.objects.get(order_id=order_id)
    except Payment.DoesNotExist:
        raise PaymentNotFound(f"No payment for order {order_id}.") from None
