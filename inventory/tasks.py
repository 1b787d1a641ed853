"""Inventory's Celery task, run by inventory's worker from inventory's queue: the
compensation's stock step (give an order's units back, asked for by orders through
``inventory.client.reservation_release_task``).

The release is the idempotent ``services.reservation_release`` (keyed by the order id): a
message delivered twice, or asked for again by orders' reconcile, changes nothing the second
time and reports the same outcome again.
"""

from __future__ import annotations

import logging
import uuid

from celery import Task, shared_task
from django.db import DatabaseError

from core.tasks import send
from faults.checkpoints import checkpoint
from instrumentation import attributes, names
from instrumentation.context import current_span, current_trace_id, mark_error
from inventory import services
from orders import client as orders_client

logger = logging.getLogger(__name__)

# Attempts before the task gives up; orders' reconcile asks again for an order left failing.
RELEASE_MAX_RETRIES = 8


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
