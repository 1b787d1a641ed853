"""Payments' Celery tasks, run by payments' worker from payments' queue: the confirmation's
money step (capture an order's authorisation, asked for by orders' finalize through
``payments.client.payment_capture_task``), the compensation's money step (void or refund an
order's payment, through ``payments.client.payment_cancel_task``) and the periodic purge of
old Idempotency-Keys (``core.idempotency``).

The capture and the cancel are the idempotent services (keyed by the order id): a message
delivered twice, or asked for again by orders' reconcile, changes nothing the second time and
reports the same outcome again.
"""

from __future__ import annotations

import logging
import uuid

from celery import Task, shared_task
from django.db import DatabaseError

from core.api import ApplicationError
from core.idempotency import purge_expired
from core.tasks import send
from faults.checkpoints import checkpoint
from instrumentation import attributes, names
from instrumentation.context import current_span, current_trace_id, mark_error
from orders import client as orders_client
from payments import services
from payments.models import IdempotentRequest

logger = logging.getLogger(__name__)

# Attempts before the task gives up; orders' reconcile asks again for an order left failing.
CANCEL_MAX_RETRIES = 8
# Retries of a capture the database kept refusing before it is reported failed (backoff
# 1 s, 2 s, 4 s, 8 s, 16 s: about half a minute), and orders compensates the order.
CAPTURE_MAX_RETRIES = 5


@shared_task(name=names.PAYMENT_CAPTURE_TASK, bind=True, max_retries=CAPTURE_MAX_RETRIES)
def capture_payment(self: Task, order_id: str, idempotency_key: str) -> str:
    """Capture the order's authorisation, then report to orders: ``done``, or ``failed`` when
    the payment cannot be captured (voided or cancelled meanwhile, none) or the database kept
    failing through every retry. A database error is retried with backoff."""
    attempt = self.request.retries + 1
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, order_id)
    span.set_attribute(attributes.TASK_ATTEMPT, attempt)
    span.set_attribute(attributes.STEP, "capture")
    try:
        payment = services.payment_capture(order_id=uuid.UUID(order_id))
        outcome, detail = "done", f"payment {payment.status}"
    except DatabaseError as exc:
        mark_error(exc)
        if attempt <= CAPTURE_MAX_RETRIES:
            countdown = 2 ** (attempt - 1)
            logger.warning(
                "capture of order %s's payment failed (attempt %d, trace %s), retrying in %ds: %s",
                order_id,
                attempt,
                current_trace_id(),
                countdown,
                exc,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        outcome, detail = "failed", f"capture gave up after {attempt} attempts: {type(exc).__name__}: {exc}"
    except ApplicationError as exc:  # not transient: this payment cannot be captured
        mark_error(exc)
        outcome, detail = "failed", f"capture refused: {exc.code}: {exc.message}"
    span.set_attribute(attributes.STEP_OUTCOME, outcome)
    # Not reported (the broker refused, the worker died): orders' reconcile finds the order
    # still placed and asks again; the capture then changes nothing and reports again.
    send(
        orders_client.step_reported_task(
            order_id=order_id, step="capture", outcome=outcome, detail=detail, idempotency_key=idempotency_key
        )
    )
    return outcome


@shared_task(name=names.PAYMENT_CANCEL_TASK, bind=True, max_retries=CANCEL_MAX_RETRIES)
def cancel_payment(self: Task, order_id: str, idempotency_key: str) -> str:
    """Void an authorisation or refund a capture, then report what it left to orders.
    A database error is retried with backoff (1 s, 2 s, 4 s, ... up to 60 s)."""
    attempt = self.request.retries + 1
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, order_id)
    span.set_attribute(attributes.TASK_ATTEMPT, attempt)
    span.set_attribute(attributes.UNDO_STEP, "payment")
    try:
        payment = services.payment_cancel(order_id=uuid.UUID(order_id))
    except DatabaseError as exc:
        mark_error(exc)
        countdown = min(60, 2 ** (attempt - 1))
        logger.warning(
            "cancel of order %s's payment failed (attempt %d, trace %s), retrying in %ds: %s",
            order_id,
            attempt,
            current_trace_id(),
            countdown,
            exc,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    span.set_attribute(attributes.UNDO_OUTCOME, payment.status)
    # Not reported (the broker refused): orders' reconcile finds the order still failing and
    # asks again; this cancel then changes nothing and reports the same outcome.
    checkpoint("undo.payment_before_report")
    send(
        orders_client.undo_reported_task(
            order_id=order_id, step="payment", outcome=payment.status, idempotency_key=idempotency_key
        )
    )
    return payment.status


@shared_task(name="payments.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete the keys older than ``IDEMPOTENCY_KEY_TTL``; returns how many."""
    return purge_expired(IdempotentRequest)
