"""Catalogue reads; availability comes from inventory over REST."""

from __future__ import annotations

from dataclasses import dataclass

from faults.database import row_by_row, slowed
from inventory import client as inventory_client
from shop.models import Customer, Product, normalise_email


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
    products = row_by_row(Product.objects.filter(active=True), fault="catalogue_n_plus_one")
    stock = {
        level.sku: level.available for level in inventory_client.stock_list(skus=[p.sku for p in products])
    }
    return [
        ProductListing(p.sku, p.name, p.description, p.price_cents, stock.get(p.sku, 0)) for p in products
    ]


def product_listing(sku: str) -> ProductListing | None:
    """One active product with its availability, or None."""
    product = Product.objects.filter(sku=sku, active=True).first()
    if product is None:
        return None
    stock = {level.sku: level.available for level in inventory_client.stock_list(skus=[sku])}
    return ProductListing(
        product.sku, product.name, product.description, product.price_cents, stock.get(sku, 0)
    )


def products_by_sku(skus: list[str]) -> dict[str, Product]:
    products = slowed(Product.objects.filter(sku__in=skus, active=True), fault="catalogue_slow_query")
    return {product.sku: product for product in products}


def customer_tier(email: str) -> str:
    """The tier the shop owes the customer with this email; an email it does not know is
    standard (a first-time buyer is neither penalised nor promoted)."""
    tier = (
        Customer.objects.filter(email__iexact=normalise_email(email)).values_list("tier", flat=True).first()
    )
    return tier or Customer.Tier.STANDARD.value
