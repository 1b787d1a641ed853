"""Stock per SKU and reservations. Units are conserved: on_hand = available + reserved + sold."""

from django.db import models
from django.db.models import F, Q


class StockItem(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    on_hand = models.PositiveIntegerField(help_text="units received into stock")
    reserved = models.PositiveIntegerField(default=0, help_text="held by open reservations")
    sold = models.PositiveIntegerField(default=0, help_text="taken by committed reservations")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(on_hand__gte=F("reserved") + F("sold")), name="stock_never_oversold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.available} available"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.sold


class Reservation(models.Model):
    class Status(models.TextChoices):
        HELD = "held"
        COMMITTED = "committed"
        RELEASED = "released"

    order_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.HELD)
    expires_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="a held reservation is released after this"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reservation for {self.order_id} ({self.status})"


class ReservationLine(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_line_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"
