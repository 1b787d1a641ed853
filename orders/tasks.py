"""Orders' Celery tasks: interfaces that re-fetch the order and call one service.

Retries and failure handling live here. Each attempt is its own span; a failed attempt
is marked ERROR on the span (Celery's instrumentor leaves retries UNSET).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError

from core.api import ApplicationError, ServiceUnavailable
from core.text import counted
from instrumentation import attributes, names
from instrumentation.context import current_span, current_trace_id, get_tracer, mark_error, resumed_context
from inventory import client as inventory_client
from orders import selectors, services
from orders.errors import OrderNotFound
from orders.models import Order
from orders.outbox import broker_started_at, outbox_deliver, outbox_pending

logger = logging.getLogger(__name__)
tracer = get_tracer(__name__)

# Worth another try: the database timed out or was locked, another app was unreachable.
TRANSIENT = (DatabaseError, ServiceUnavailable)
# An email later than a day after the order ended is worse than none.
EMAIL_RESEND_WITHIN_S = 24 * 3600


class OrderTask(Task):
    """Base of the order tasks: a task that fails for good is logged with its order and
    trace, so the log line leads to the trace.

    A message naming an order this database does not hold (one left in a shared broker
    by another copy of the shop) fails with that one line and no traceback: Celery logs
    ``throws`` exceptions as expected failures, and there is nothing to confirm or undo.
    """

    throws = (OrderNotFound,)

    # Celery's Task.on_failure signature. args: a tuple called eagerly, a list once decoded
    # from a JSON message; einfo: a billiard.einfo.ExceptionInfo (billiard ships no types).
    def on_failure(
        self, exc: BaseException, task_id: str, args: Sequence[Any], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        # A task of no order (reconcile) is named without one, not "for order ?".
        order = f" for order {kwargs['order_id']}" if kwargs.get("order_id") else ""
        logger.error(
            "task %s[%s] failed%s (trace %s): %s: %s",
            self.name,
            task_id,
            order,
            current_trace_id(),
            type(exc).__name__,
            exc,
        )


def _start_attempt(task: Task, order_id: str) -> int:
    attempt = task.request.retries + 1
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, order_id)
    span.set_attribute(attributes.TASK_ATTEMPT, attempt)
    return attempt


@shared_task(name=names.FINALIZE_ORDER_TASK, base=OrderTask, bind=True, max_retries=None)
def finalize_order(self: Task, order_id: str) -> None:
    """Write a placed order's confirmation and ask payments and inventory for the capture
    and the commit (their reports confirm it); retry transient errors with backoff, then
    compensate."""
    attempt = _start_attempt(self, order_id)
    try:
        services.order_finalize(order_id=uuid.UUID(order_id))
    except TRANSIENT as exc:
        mark_error(exc)
        if attempt <= settings.ORDERS_FINALIZE_MAX_RETRIES:
            countdown = settings.ORDERS_FINALIZE_RETRY_BACKOFF * 2 ** (attempt - 1)
            logger.warning(
                "finalize of order %s failed (attempt %d), retrying in %.1fs: %s",
                order_id,
                attempt,
                countdown,
                exc,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        tries = counted(attempt, "attempt")
        _give_up(order_id, f"finalize gave up after {tries}: {type(exc).__name__}: {exc}")
    except OrderNotFound:
        raise  # no order to compensate either
    except ApplicationError as exc:  # not transient: the order cannot be confirmed
        mark_error(exc)
        _give_up(order_id, f"finalize failed: {exc.code}: {exc.message}")


def _give_up(order_id: str, reason: str) -> None:
    logger.error("order %s will be compensated (trace %s): %s", order_id, current_trace_id(), reason)
    services.order_request_compensation(order_id=uuid.UUID(order_id), reason=reason)


@shared_task(name=names.COMPENSATE_ORDER_TASK, base=OrderTask, bind=True, max_retries=10)
def compensate_order(self: Task, order_id: str, reason: str) -> None:
    """Claim the order (failing, with ``reason``) and ask payments and inventory, by task, to
    void or refund and to release; their reports (``record_undo``) fail the order."""
    attempt = _start_attempt(self, order_id)
    try:
        services.order_compensate(order_id=uuid.UUID(order_id), reason=reason)
    except TRANSIENT as exc:
        mark_error(exc)
        raise self.retry(exc=exc, countdown=min(60, 2**attempt)) from exc


@shared_task(name=names.UNDO_REPORTED_TASK, base=OrderTask, bind=True, max_retries=10)
def record_undo(self: Task, order_id: str, step: str, outcome: str, idempotency_key: str) -> None:
    """Payments' or inventory's worker reports an undo step done; the order fails once both
    have. Two reports at once contend for the order's row: the loser retries."""
    attempt = _start_attempt(self, order_id)
    span = current_span()
    span.set_attribute(attributes.UNDO_STEP, step)
    span.set_attribute(attributes.UNDO_OUTCOME, outcome)
    try:
        order = services.order_record_undo(
            order_id=uuid.UUID(order_id), step=step, outcome=outcome, idempotency_key=idempotency_key
        )
    except DatabaseError as exc:
        mark_error(exc)
        raise self.retry(exc=exc, countdown=min(60, 2 ** (attempt - 1))) from exc
    span.set_attribute(attributes.ORDER_STATUS, order.status)


@shared_task(name=names.STEP_REPORTED_TASK, base=OrderTask, bind=True, max_retries=10)
def record_step(
    self: Task, order_id: str, step: str, outcome: str, detail: str = "", idempotency_key: str = ""
) -> None:
    """Payments' or inventory's worker reports a confirmation step (capture, commit) done or
    failed; the order is confirmed once both are done, compensated if one failed. Two reports
    at once contend for the order's row: the loser retries."""
    attempt = _start_attempt(self, order_id)
    span = current_span()
    span.set_attribute(attributes.STEP, step)
    span.set_attribute(attributes.STEP_OUTCOME, outcome)
    try:
        order = services.order_record_step(
            order_id=uuid.UUID(order_id),
            step=step,
            outcome=outcome,
            detail=detail,
            idempotency_key=idempotency_key,
        )
    except DatabaseError as exc:
        mark_error(exc)
        raise self.retry(exc=exc, countdown=min(60, 2 ** (attempt - 1))) from exc
    span.set_attribute(attributes.ORDER_STATUS, order.status)


@shared_task(name=names.SEND_ORDER_EMAIL_TASK, base=OrderTask, bind=True, max_retries=5)
def send_order_email(self: Task, order_id: str, kind: str) -> None:
    _start_attempt(self, order_id)
    try:
        services.order_send_email(order_id=uuid.UUID(order_id), kind=kind)
    except (OSError, DatabaseError) as exc:
        mark_error(exc)
        raise self.retry(exc=exc, countdown=5) from exc


def _expire_reservations() -> int:
    try:
        return inventory_client.reservations_expire()
    except ServiceUnavailable as exc:  # the next run tries again; the rest must still run
        logger.warning("reconcile: could not expire reservations: %s", exc)
        return 0


@shared_task(name=names.RECONCILE_TASK, base=OrderTask)
def reconcile() -> dict[str, int]:
    """Push on whatever waits too long: undelivered outbox rows, placed orders never
    finalised, pending orders whose checkout never finished, emails never sent."""
    delivered = sum(outbox_deliver(message_id=pk) for pk in outbox_pending(older_than_seconds=5))
    released = _expire_reservations()
    stuck = selectors.orders_stuck(
        older_than_seconds=settings.ORDERS_STUCK_AFTER, broker_started_at=broker_started_at()
    )
    for order in stuck:
        with _in_order_trace(order):
            logger.warning(
                "order %s is %s past its deadline (trace %s)", order.id, order.status, order.trace_id
            )
            services.order_push_on(order_id=order.id)
    mailed = _resend_emails()
    return {
        "outbox_delivered": delivered,
        "orders_pushed_on": len(stuck),
        "reservations_expired": released,
        "emails_queued_again": mailed,
    }


def _resend_emails() -> int:
    """Queue again the emails ended orders are owed and have none on record, each in its
    order's trace."""
    owed = selectors.orders_unmailed(
        older_than_seconds=settings.ORDERS_EMAIL_RESEND_AFTER, within_seconds=EMAIL_RESEND_WITHIN_S
    )
    queued = 0
    for order, kind in owed:
        if not services.order_email_due_again(order=order, kind=kind):
            continue  # no reconcile span every run for an email in flight or given up on
        with _in_order_trace(order):
            queued += services.order_resend_email(order_id=order.id, kind=kind)
    return queued


@contextmanager
def _in_order_trace(order: Order) -> Iterator[None]:
    """Reconcile's work on one order, in a span of the order's own trace, where whoever
    looks at the order will look."""
    with (
        resumed_context(order.trace_context),
        tracer.start_as_current_span(names.RECONCILE_ORDER_SPAN) as span,
    ):
        span.set_attribute(attributes.ORDER_ID, str(order.id))
        yield
