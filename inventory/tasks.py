"""Inventory's Celery tasks, run by inventory's worker from inventory's queue: the
confirmation's stock step (turn an order's held units into sold ones, asked for by orders'
finalize through ``inventory.client.reservation_commit_task``) and the compensation's stock
step (give an order's units back, through ``inventory.client.reservation_release_task``).

The commit and the release are the idempotent services (keyed by the order id): a message
delivered twice, or asked for again by orders' reconcile, changes nothing the second time and
reports the same outcome again.
"""

from __future__ import annotations

import logging
import uuid

from celery import Task, shared_task

from core.tasks import StepOutcome, StepRetry, run_step
from faults.checkpoints import checkpoint
from instrumentation import names
from instrumentation.context import CONFIRMATION_STEP, UNDO_STEP, flush_before_kill
from inventory import services
from orders import client as orders_client

logger = logging.getLogger(__name__)

# Attempts before the task gives up; orders' reconcile asks again for an order left failing.
RELEASE_MAX_RETRIES = 8
# Retries of a commit the database kept refusing before it is reported failed (backoff
# 1 s, 2 s, 4 s, 8 s, 16 s: about half a minute), and orders compensates the order.
COMMIT_MAX_RETRIES = 5
COMMIT_RETRY = StepRetry(max_retries=COMMIT_MAX_RETRIES, reports_failure=True)
RELEASE_RETRY = StepRetry(max_retries=RELEASE_MAX_RETRIES, max_countdown=60)


@shared_task(name=names.STOCK_COMMIT_TASK, bind=True)
def commit_reservation(self: Task, order_id: str, idempotency_key: str) -> str:
    """Turn the order's held units into sold ones, then report to orders: ``done``, or
    ``failed`` when the reservation cannot be committed (released meanwhile, e.g. expired;
    none) or the database kept failing through every retry. A database error is retried
    with backoff."""

    def commit() -> StepOutcome:
        reservation = services.reservation_commit(order_id=uuid.UUID(order_id))
        return StepOutcome("done", f"stock {reservation.status}")

    # Not reported (the broker refused, the worker died): orders' reconcile finds the order
    # still placed and asks again; the commit then changes nothing and reports again.
    return run_step(
        self,
        order_id=order_id,
        step="commit",
        action="commit",
        subject="stock",
        trace=CONFIRMATION_STEP,
        retry=COMMIT_RETRY,
        work=commit,
        before_report=lambda: checkpoint("step.commit_before_report", on_crash=flush_before_kill),
        report=lambda done: orders_client.step_reported_task(
            order_id=order_id,
            step="commit",
            outcome=done.outcome,
            detail=done.detail,
            idempotency_key=idempotency_key,
        ),
        logger=logger,
    )


@shared_task(name=names.STOCK_RELEASE_TASK, bind=True)
def release_reservation(self: Task, order_id: str, idempotency_key: str) -> str:
    """Give the order's units back (held or sold), then report what it left to orders:
    ``released``, or ``none`` for an order that never reserved. A database error is retried
    with backoff (1 s, 2 s, 4 s, ... up to 60 s)."""

    def release() -> StepOutcome:
        reservation = services.reservation_release(order_id=uuid.UUID(order_id))
        return StepOutcome(reservation.status if reservation is not None else "none")

    # Not reported (the broker refused): orders' reconcile asks again, as for payments.
    return run_step(
        self,
        order_id=order_id,
        step="stock",
        action="release",
        subject="stock",
        trace=UNDO_STEP,
        retry=RELEASE_RETRY,
        work=release,
        before_report=lambda: checkpoint("undo.stock_before_report", on_crash=flush_before_kill),
        report=lambda done: orders_client.undo_reported_task(
            order_id=order_id, step="stock", outcome=done.outcome, idempotency_key=idempotency_key
        ),
        logger=logger,
    )
