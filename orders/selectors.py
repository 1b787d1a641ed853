"""Order reads."""

from __future__ import annotations

from django.utils import timezone

from orders.models import Order

Status = Order.Status


def orders_stuck(*, status: str, older_than_seconds: float, limit: int = 100) -> list[Order]:
    """Orders still in ``status`` after their deadline, oldest first."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(Order.objects.filter(status=status, updated_at__lt=cutoff).order_by("updated_at")[:limit])
