"""The catalogue, and the checkout's Idempotency-Keys. Prices are integer cents; orders copy them
as values."""

from django.db import models
from django.db.models import Q

from core.idempotency import IdempotentRequestBase


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    price_cents = models.PositiveIntegerField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(price_cents__gt=0), name="product_price_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    @property
    def price(self) -> str:
        return f"{self.price_cents / 100:.2f}"


class IdempotentRequest(IdempotentRequestBase):
    """A checkout's Idempotency-Key and the answer it got (config/idempotency.py)."""
