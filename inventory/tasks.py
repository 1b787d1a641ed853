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
from django.db import DatabaseError

from core.api import ApplicationError
from core.tasks import send
from faults.checkpoints import checkpoint
from instrumentation import attributes, names
from instrumentation.context import current_span, current_trace_id, mark_error
from inventory import services
from orders import client as orders_client

logger = logging.getLogger(__name__)

# Attempts before the task gives up; orders' reconcile asks again for an order left failing.
RELEASE_MAX_RETRIES = 8
# Retries of a commit the database kept refusing before it is reported failed (backoff
# 1 s, 2 s, 4 s, 8 s, 16 s: about half a minute), and orders compensates the order.
COMMIT_MAX_RETRIES = 5


@shared_task(name=names.STOCK_COMMIT_TASK, bind=True, max_retries=COMMIT_MAX_RETRIES)
def commit_reservation(self: Task, order_id: str, idempotency_key: str) -> str:
    """Turn the order's held units into sold ones, then report to orders: ``done``, or
    ``failed`` when the reservation cannot be committed (released meanwhile, e.g. expired;
    none) or the database kept failing through every retry. A database error is retried
    with backoff."""
    attempt = self.request.retries + 1
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, order_id)
    span.set_attribute(attributes.TASK_ATTEMPT, attempt)
    span.set_attribute(attributes.STEP, "commit")
    try:
        reservation = services.reservation_commit(order_id=uuid.UUID(order_id))
        outcome, detail = "done", f"stock {reservation.status}"
    except DatabaseError as exc:
        mark_error(exc)
        if attempt <= COMMIT_MAX_RETRIES:
            countdown = 2 ** (attempt - 1)
            logger.warning(
                "commit of order %s's stock failed (attempt %d, trace %s), retrying in %ds: %s",
                order_id,
                attempt,
                current_trace_id(),
                countdown,
                exc,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        outcome, detail = "failed", f"commit gave up after {attempt} attempts: {type(exc).__name__}: {exc}"
    except ApplicationError as exc:  # not transient: this reservation cannot be committed
        mark_error(exc)
        outcome, detail = "failed", f"commit refused: {exc.code}: {exc.message}"
    span.set_attribute(attributes.STEP_OUTCOME, outcome)
    # Not reported (the broker refused, the worker died): orders' reconcile finds the order
    # still placed and asks again; the commit then changes nothing and reports again.
    send(
        orders_client.step_reported_task(
            order_id=order_id, step="commit", outcome=outcome, detail=detail, idempotency_key=idempotency_key
        )
    )
    return outcome


@shared_task(name=names.STOCK_RELEASE_TASK, bind=True, max_retries=RELEASE_MAX_RETRIES)
def release_reservation(self: Task, order_id: str, idempotency_key: str) -> str:
    """Give the order's units back (held or sold), then report what it left to orders:
    ``released``, or ``none`` for an order that never reserved. A database error is retried
    with backoff (1 s, 2 s, 4 s, ... up to 60 s)."""
    attempt = self.request.retries + 1
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, order_id)
    span.set_attribute(attributes.TASK_ATTEMPT, attempt)
    span.set_attribute(attributes.UNDO_STEP, "stock")
    try:
        reservation = services.reservation_release(order_id=uuid.UUID(order_id))
    except DatabaseError as exc:
        mark_error(exc)
        countdown = min(60, 2 ** (attempt - 1))
        logger.warning(
            "release of order %s's stock failed (attempt %d, trace %s), retrying in %ds: %s",
            order_id,
            attempt,
            current_trace_id(),
            countdown,
            exc,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    outcome = reservation.status if reservation is not None else "none"
    span.set_attribute(attributes.UNDO_OUTCOME, outcome)
    # Not reported (the broker refused): orders' reconcile asks again, as for payments.
    checkpoint("undo.stock_before_report")
    send(
        orders_client.undo_reported_task(
            order_id=order_id, step="stock", outcome=outcome, idempotency_key=idempotency_key
        )
    )
    return outcome
