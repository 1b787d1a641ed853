"""Catalogue reads; availability comes from inventory over REST."""

from __future__ import annotations

from dataclasses import dataclass

from inventory import client as inventory_client
from shop.models import Product


@dataclass(frozen=True)
class ProductListing:
    sku: str
    name: str
    description: str
    price_cents: int
    available: int

    @property
    def price(self) -> str:
        return f"{self.price_cents / 100:.2f}"


def product_listings() -> list[ProductListing]:
    products = list(Product.objects.filter(active=True))
    stock = {
        level.sku: level.available for level in inventory_client.stock_list(skus=[p.sku for p in products])
    }
    return [
        ProductListing(p.sku, p.name, p.description, p.price_cents, stock.get(p.sku, 0)) for p in products
    ]


def products_by_sku(skus: list[str]) -> dict[str, Product]:
    return {product.sku: product for product in Product.objects.filter(sku__in=skus, active=True)}
