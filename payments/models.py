"""One payment per order, and where it stands with the gateway (or the marker left by a
cancel that came first); the internal calls' Idempotency-Keys."""

from django.db import models
from django.db.models import Q

from core.idempotency import IdempotentRequestBase


class Payment(models.Model):
    class Status(models.TextChoices):
        AUTHORIZED = "authorized"
        CAPTURED = "captured"
        VOIDED = "voided"
        REFUNDED = "refunded"
        DECLINED = "declined"
        # Cancelled before any authorisation was recorded: no money, no gateway reference.
        # An authorisation that lands afterwards (it outlived its caller) is voided at once.
        CANCELLED = "cancelled"

    order_id = models.UUIDField(unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=12, choices=Status.choices)
    gateway_reference = models.CharField(max_length=64, blank=True, default="")
    decline_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0) | Q(status="cancelled"), name="payment_amount_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents / 100:.2f} {self.currency} for {self.order_id} ({self.status})"


class IdempotentRequest(IdempotentRequestBase):
    """An internal payment call's Idempotency-Key and its answer (config/idempotency.py)."""
