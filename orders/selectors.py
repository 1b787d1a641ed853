"""Order reads."""

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
