"""The catalogue, the customers the shop knows (by email, with a tier), and the checkout's
Idempotency-Keys. Prices are integer cents; orders copy them (and the tier) as values."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

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


def normalise_email(email: str) -> str:
    """The form a customer's email is stored and looked up in: one customer per address,
    whatever the case it was typed in."""
    return email.strip().lower()


class Customer(models.Model):
    """A customer the shop knows by email. Its tier is the service level the shop owes it,
    copied onto each order and carried with the order's trace; unknown emails are standard."""

    class Tier(models.TextChoices):
        FREE = "free"
        STANDARD = "standard"
        PREMIUM = "premium"

    email = models.EmailField(max_length=254, unique=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STANDARD, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            # Rows written around clean() (a shell, a fixture) still cannot hold one address twice.
            models.UniqueConstraint(Lower("email"), name="customer_email_case_insensitive_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.tier})"

    def clean(self) -> None:
        self.email = normalise_email(self.email)


class IdempotentRequest(IdempotentRequestBase):
    """A checkout's Idempotency-Key and the answer it got (config/idempotency.py)."""
