"""Order reads: what reconcile pushes on."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from orders.models import Order

Status = Order.Status


# The most times the wait before reconcile's next push doubles: 2**5 = 32 deadlines (64
# minutes with the default ORDERS_STUCK_AFTER of 120 s), so nothing waits forever.
MAX_DOUBLINGS = 5


def orders_stuck(
    *, older_than_seconds: float, broker_started_at: datetime | None = None, limit: int = 100
) -> list[Order]:
    """Orders not terminal and untouched for longer than their deadline, oldest first.

    The deadline doubles with each push reconcile gave the order since its status last
    changed (``Order.pushes``, up to ``MAX_DOUBLINGS``): an order whose finalize waits in a
    backlog longer than one deadline would otherwise be pushed again every run, each push
    another finalize and two more steps in the same backlog (a 10,000-order chaos run saw
    1,561 pushes for 1,017 placed orders in two minutes).

    Unless the broker restarted since the last push (``broker_started_at``): a broker that
    restarts empty took that push with it, and waiting longer would only wait for nothing
    (the same chaos run, with the broker crashing every minute, left orders waiting
    minutes)."""
    now = timezone.now()
    deadline = now - timedelta(seconds=older_than_seconds)
    waited = Q()
    for doublings in range(MAX_DOUBLINGS + 1):
        pushes = Q(pushes__gte=doublings) if doublings == MAX_DOUBLINGS else Q(pushes=doublings)
        waited |= pushes & Q(updated_at__lt=now - timedelta(seconds=older_than_seconds * 2**doublings))
    if broker_started_at is not None:
        waited |= Q(updated_at__lt=min(deadline, broker_started_at))
    waiting = Order.objects.exclude(status__in=Order.TERMINAL).filter(waited)
    return list(waiting.order_by("updated_at")[:limit])


def orders_unmailed(
    *, older_than_seconds: float, within_seconds: float, limit: int = 500
) -> list[tuple[Order, str]]:
    """Ended orders whose customer was owed an email and has none on record, ended more
    than ``older_than_seconds`` but less than ``within_seconds`` ago: with the email kind
    owed (a confirmed order its confirmation; a failed order whose customer was told
    "received" the failure). Its task may have been lost with a broker that restarted
    empty after taking it, or have given up on a mail server that refused it."""
    now = timezone.now()
    ended = Order.objects.filter(
        updated_at__lt=now - timedelta(seconds=older_than_seconds),
        updated_at__gte=now - timedelta(seconds=within_seconds),
    )
    confirmed = ended.filter(status=Status.CONFIRMED).exclude(events__kind="email_confirmed")
    failed = ended.filter(status=Status.FAILED, events__kind="placed").exclude(events__kind="email_failed")
    owed = [(order, "confirmed") for order in confirmed.order_by("updated_at")[:limit]]
    owed += [(order, "failed") for order in failed.order_by("updated_at")[:limit]]
    return owed[:limit]
