"""Order reads: what reconcile pushes on."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from orders.models import Order

Status = Order.Status


def orders_stuck(*, older_than_seconds: float, limit: int = 100) -> list[Order]:
    """Orders not terminal and untouched for longer than their deadline, oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = Order.objects.exclude(status__in=Order.TERMINAL).filter(updated_at__lt=cutoff)
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
