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

from core.idempotency import purge_expired
from core.tasks import StepOutcome, StepRetry, run_step
from faults.checkpoints import checkpoint
from instrumentation import names
from instrumentation.context import CONFIRMATION_STEP, UNDO_STEP, flush_before_kill
from orders import client as orders_client
from payments import services
from payments.models import IdempotentRequest

logger = logging.getLogger(__name__)

# Attempts before the task gives up; orders' reconcile asks again for an order left failing.
CANCEL_MAX_RETRIES = 8
# Retries of a capture the database kept refusing before it is reported failed (backoff
# 1 s, 2 s, 4 s, 8 s, 16 s: about half a minute), and orders compensates the order.
CAPTURE_MAX_RETRIES = 5
CAPTURE_RETRY = StepRetry(max_retries=CAPTURE_MAX_RETRIES, reports_failure=True)
CANCEL_RETRY = StepRetry(max_retries=CANCEL_MAX_RETRIES, max_countdown=60)


@shared_task(name=names.PAYMENT_CAPTURE_TASK, bind=True)
def capture_payment(self: Task, order_id: str, idempotency_key: str) -> str:
    """Capture the order's authorisation, then report to orders: ``done``, or ``failed`` when
    the payment cannot be captured (voided or cancelled meanwhile, none) or the database kept
    failing through every retry. A database error is retried with backoff."""

    def capture() -> StepOutcome:
        payment = services.payment_capture(order_id=uuid.UUID(order_id))
        return StepOutcome("done", f"payment {payment.status}")

    # Not reported (the broker refused, the worker died): orders' reconcile finds the order
    # still placed and asks again; the capture then changes nothing and reports again.
    return run_step(
        self,
        order_id=order_id,
        step="capture",
        action="capture",
        subject="payment",
        trace=CONFIRMATION_STEP,
        retry=CAPTURE_RETRY,
        work=capture,
        before_report=lambda: checkpoint("step.capture_before_report", on_crash=flush_before_kill),
        report=lambda done: orders_client.step_reported_task(
            order_id=order_id,
            step="capture",
            outcome=done.outcome,
            detail=done.detail,
            idempotency_key=idempotency_key,
        ),
        logger=logger,
    )


@shared_task(name=names.PAYMENT_CANCEL_TASK, bind=True)
def cancel_payment(self: Task, order_id: str, idempotency_key: str) -> str:
    """Void an authorisation or refund a capture, then report what it left to orders.
    A database error is retried with backoff (1 s, 2 s, 4 s, ... up to 60 s)."""

    def cancel() -> StepOutcome:
        return StepOutcome(services.payment_cancel(order_id=uuid.UUID(order_id)).status)

    # Not reported (the broker refused): orders' reconcile finds the order still failing and
    # asks again; this cancel then changes nothing and reports the same outcome.
    return run_step(
        self,
        order_id=order_id,
        step="payment",
        action="cancel",
        subject="payment",
        trace=UNDO_STEP,
        retry=CANCEL_RETRY,
        work=cancel,
        before_report=lambda: checkpoint("undo.payment_before_report", on_crash=flush_before_kill),
        report=lambda done: orders_client.undo_reported_task(
            order_id=order_id, step="payment", outcome=done.outcome, idempotency_key=idempotency_key
        ),
        logger=logger,
    )


@shared_task(name="payments.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete the keys older than ``IDEMPOTENCY_KEY_TTL``; returns how many."""
    return purge_expired(IdempotentRequest)
