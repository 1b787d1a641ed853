"""Payment reads: how many payments stand in each status, and for how much."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Count, Sum

from payments.models import Payment


@dataclass(frozen=True)
class StatusTotal:
    count: int
    amount_cents: int


def payment_summary(*, order_ids: list[uuid.UUID] | None = None) -> dict[str, StatusTotal]:
    """Count and sum (cents) per status, every status present (zeros included).
    With ``order_ids``, only those orders' payments; otherwise all of them."""
    payments = Payment.objects.all() if order_ids is None else Payment.objects.filter(order_id__in=order_ids)
    rows = payments.order_by().values("status").annotate(count=Count("id"), amount_cents=Sum("amount_cents"))
    found = {row["status"]: StatusTotal(row["count"], row["amount_cents"]) for row in rows}
    return {status: found.get(status, StatusTotal(0, 0)) for status in Payment.Status.values}
