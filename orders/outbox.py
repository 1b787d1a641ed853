"""The transactional outbox: a task is written with the state change that calls for it
and published after commit, under the trace context it was written in. What the broker
did not take is published again by ``orders.reconcile``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from instrumentation.context import capture_context, resumed_context, untraced
from orders.models import Order, OutboxMessage

logger = logging.getLogger(__name__)


def outbox_enqueue(*, order: Order, task_name: str, kwargs: dict) -> OutboxMessage:
    """Call inside the transaction that changes the order; publishes after it commits."""
    message = OutboxMessage.objects.create(
        order=order, task_name=task_name, kwargs=kwargs, trace_context=capture_context()
    )
    transaction.on_commit(lambda: outbox_deliver(message_id=message.pk))
    return message


def outbox_deliver(*, message_id: int) -> bool:
    """Publish one message if it is still undelivered; False when the broker refused."""
    message = OutboxMessage.objects.filter(pk=message_id, delivered_at__isnull=True).first()
    if message is None:
        return False
    # Published later (by reconcile), the stored context puts the task back into the
    # order's trace; published by the request that wrote it, the live span is the parent.
    with resumed_context(message.trace_context):
        try:
            current_app.send_task(message.task_name, kwargs=message.kwargs)
        except Exception as exc:  # broker down: the row stays for reconcile
            logger.warning(
                "outbox: could not publish %s for order %s: %s", message.task_name, message.order_id, exc
            )
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=message.attempts + 1, last_error=str(exc)[:1000]
            )
            return False
    OutboxMessage.objects.filter(pk=message.pk).update(
        delivered_at=timezone.now(), attempts=message.attempts + 1
    )
    return True


def outbox_pending(*, older_than_seconds: float) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        OutboxMessage.objects.filter(delivered_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def broker_started_at() -> datetime | None:
    """When the broker last started, from its uptime (Redis's ``INFO``); None when it cannot
    say (another broker, or none reachable). A message published before then died with it
    if the broker keeps nothing across a restart (Redis without persistence, as ``make
    run`` and the chaos bench run it): reconcile pushes its order on without backing off."""
    try:
        with untraced(), current_app.connection_for_write() as connection:
            uptime = connection.default_channel.client.info("server")["uptime_in_seconds"]
    except Exception:  # no Redis channel, or no broker now: nothing known
        return None
    return timezone.now() - timedelta(seconds=float(uptime))
