"""Measurements of a simulated run made by hand, for the invariant and report tests: the
demo catalogue's stock before and after, payment summaries and checkout attempts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from inventory.client import StockLevel
from payments.client import PaymentSummary, PaymentTotal
from shop.demo import CATALOGUE
from simulator.driver import Attempt

# The demo catalogue's stock, as inventory's stock API answers it before any order.
BEFORE = [StockLevel(sku=sku, available=n, on_hand=n, reserved=0, sold=0) for sku, _, _, _, n in CATALOGUE]
LAPTOP, MOUSE = "LAPTOP-GAMING-15", "MOUSE-WIRELESS"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def after(changes: dict[str, tuple[int, int]]) -> list[StockLevel]:
    """BEFORE with (reserved, sold) changed for some SKUs; available follows, as the API's does."""
    levels = []
    for item in BEFORE:
        reserved, sold = changes.get(item.sku, (0, 0))
        levels.append(replace(item, reserved=reserved, sold=sold, available=item.on_hand - reserved - sold))
    return levels


def total(count: int = 0, cents: int = 0) -> PaymentTotal:
    return PaymentTotal(count=count, amount_cents=cents)


def summary(**totals: PaymentTotal) -> PaymentSummary:
    fields = {
        name: total() for name in ("authorized", "captured", "voided", "refunded", "declined", "cancelled")
    }
    return PaymentSummary(**{**fields, **totals})


def attempt(
    index: int, status: str, *, http_status: int = 202, basket=(), total_cents: int = 0, **kw
) -> Attempt:
    return Attempt(
        index=index,
        basket=tuple(basket),
        http_status=http_status,
        order_id=f"00000000-0000-0000-0000-{index:012d}",
        status=status,
        readable=True,
        total_cents=total_cents,
        **kw,
    )
