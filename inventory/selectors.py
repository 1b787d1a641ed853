"""Inventory reads."""

from inventory.models import StockItem


def stock_levels(*, skus: list[str] | None = None) -> list[StockItem]:
    items = StockItem.objects.order_by("sku")
    return list(items.filter(sku__in=skus) if skus else items)
