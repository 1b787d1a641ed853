"""Orders, their lines (values copied from the catalogue), their history and the outbox."""

import uuid

from django.db import models
from django.db.models import Q


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # stored; stock and payment being arranged
        PLACED = "placed"  # reserved and authorised; the customer was answered
        CONFIRMED = "confirmed"  # confirmation written, stock committed, payment captured
        FAILING = "failing"  # claimed by compensation, being undone: never confirmed any more
        FAILED = "failed"  # undone: payment voided or refunded, stock released

    class CustomerTier(models.TextChoices):
        """The shop's customer tiers, mirrored: the tier arrives as a value (orders imports
        no shop), recorded as the customer's level when the order was made."""

        FREE = "free"
        STANDARD = "standard"
        PREMIUM = "premium"

    TERMINAL = (Status.CONFIRMED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.TextField(blank=True, default="", help_text="why the order failed")
    customer_tier = models.CharField(
        max_length=10, choices=CustomerTier.choices, default=CustomerTier.STANDARD, db_index=True
    )
    total_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    trace_context = models.JSONField(
        default=dict, blank=True, help_text="W3C context of the order's creation, for later work to join"
    )
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    confirmation_code = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Times reconcile pushed the order on since its status last changed: each push doubles
    # the wait before the next (orders.selectors.orders_stuck), so a backlog longer than
    # the deadline is not flooded with the same orders' work again every run.
    pushes = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(total_cents__gt=0), name="order_total_positive")]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price_cents = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class OrderEvent(models.Model):
    """One step in an order's life, with the trace it happened in."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    message = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class OutboxMessage(models.Model):
    """A task to publish, committed with the state change that calls for it, so a broker
    outage delays the task instead of losing it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="outbox")
    task_name = models.CharField(max_length=100)
    kwargs = models.JSONField(default=dict)
    trace_context = models.JSONField(default=dict, help_text="W3C trace context to publish under")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.task_name} for {self.order_id}"
