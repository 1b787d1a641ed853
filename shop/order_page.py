"""The order page in a customer's words: what happened, what it means for their money
and what to do, read from the order's status, its failure reason and its events.

The codes and messages these are read from (``payment_declined: ...``, ``finalize gave up
after 4 attempts: OperationalError ...``, ``email_failed``) are the staff's: a customer
sees only the sentences written here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.dateparse import parse_datetime

from orders.client import OrderInfo
from shop.formatting import format_price

# The payment's state after an order was undone, recorded as the event ``payment_<status>``.
CHARGED_BACK = "payment_refunded"
NEVER_CHARGED = ("payment_voided", "payment_cancelled", "payment_declined")


@dataclass(frozen=True)
class OrderSummary:
    tone: str  # "good", "waiting" or "bad": the colour of the page's status box
    headline: str
    happened: str
    money: str
    next_step: str
    in_progress: bool  # the page refreshes itself until the order is settled


def reference(order: OrderInfo) -> str:
    """What the customer quotes: the confirmation code once there is one, else the short
    reference the failure email uses."""
    return order.confirmation_code or order.order_id[:8].upper()


def placed_at(order: OrderInfo) -> datetime | None:
    """When the order was made: the time of its first event."""
    return parse_datetime(order.events[0]["at"]) if order.events else None


def summarise(order: OrderInfo) -> OrderSummary:
    total = format_price(order.total_cents)
    kinds = {event["kind"] for event in order.events}
    if order.status == "confirmed":
        emailed = (
            f"A confirmation email was sent to {order.email}."
            if "email_confirmed" in kinds
            else f"A confirmation email is on its way to {order.email}."
        )
        return OrderSummary(
            "good",
            "Thank you, your order is confirmed",
            f"Your order is confirmed and is being prepared. {emailed}",
            f"Your card was charged {total}.",
            "Nothing more to do. Keep your order number in case you contact us.",
            in_progress=False,
        )
    if order.status == "pending":
        return OrderSummary(
            "waiting",
            "We are processing your order",
            "We are checking stock and your payment.",
            "Your card has not been charged.",
            "Nothing to do: this page updates by itself.",
            in_progress=True,
        )
    if order.status == "placed":
        # Payments' worker may capture before inventory's commit reports: the order is still
        # being confirmed, but the card is charged, and the page says so.
        money = (
            f"Your card was charged {total}; if the order cannot be completed it is refunded in full."
            if "capture_done" in kinds
            else f"{total} is reserved on your card; you are charged only once the order is confirmed."
        )
        return OrderSummary(
            "waiting",
            "Order received, we are confirming it",
            "We have your order; the items are set aside for you and we are confirming it.",
            money,
            "Nothing to do: this page updates by itself, and we will email you.",
            in_progress=True,
        )
    if order.status == "failing":
        return OrderSummary(
            "bad",
            "We could not complete your order",
            _why(order.reason),
            "We are cancelling the payment: you will not pay for this order.",
            "Nothing to do: this page updates by itself in a moment.",
            in_progress=True,
        )
    # failed
    if CHARGED_BACK in kinds:
        money = (
            f"Your card was charged {total} and the full amount has been refunded; "
            "your bank may take a few days to show it."
        )
    else:
        money = f"Your card was not charged. Any amount held on it ({total}) has been released."
    emailed = f" We have emailed {order.email} about it." if "email_failed" in kinds else ""
    return OrderSummary(
        "bad",
        "We could not complete your order",
        _why(order.reason) + emailed,
        money,
        _what_to_do(order.reason),
        in_progress=False,
    )


def _code(reason: str) -> str:
    """The refusal's code at the head of a checkout's reason (``payment_declined: ...``)."""
    head, sep, _ = reason.partition(":")
    return head.strip() if sep and head.strip().isidentifier() else ""


# What a refusal means for the customer and what to do next, by its code; our own failures
# (any other reason) get the last pair.
REFUSALS = {
    "payment_declined": (
        "Your card was declined, so the order was not placed.",
        "You can order again with another card.",
    ),
    "insufficient_stock": (
        "Some of the items sold out while you were ordering, so the order was not placed.",
        "Check what is in stock and order again.",
    ),
}
OUR_FAILURE = (
    "A problem on our side stopped us from completing your order. We are sorry.",
    "Please try again in a few minutes.",
)


def _why(reason: str) -> str:
    return REFUSALS.get(_code(reason), OUR_FAILURE)[0]


def _what_to_do(reason: str) -> str:
    return REFUSALS.get(_code(reason), OUR_FAILURE)[1]


def staff_events(order: OrderInfo) -> list[dict]:
    """The order's events as staff read them: code, message, time and trace; ``at_text`` to
    the millisecond, so a retry schedule reads as one."""
    events = []
    for event in order.events:
        at = parse_datetime(event["at"])
        at_text = f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d}" if at else event["at"]
        events.append({**event, "at": at, "at_text": at_text})
    return events
