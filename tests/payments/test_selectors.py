"""Payments' summary selector on the database: counts and cents per status, every status
present, narrowed to given orders when asked."""

from __future__ import annotations

import uuid

import pytest

from payments import selectors, services
from payments.errors import PaymentDeclined
from payments.models import Payment

pytestmark = pytest.mark.django_db


def pay(amount_cents: int, token: str = "tok_ok") -> uuid.UUID:
    order_id = uuid.uuid4()
    try:
        services.payment_authorize(order_id=order_id, amount_cents=amount_cents, token=token)
    except PaymentDeclined:
        pass
    return order_id


def test_summary_counts_and_sums_every_status():
    """Two captured, one voided, one declined, one left authorised, one cancelled before
    it paid (no money); refunded shows as zeros."""
    captured = [pay(1000), pay(2500)]
    for order_id in captured:
        services.payment_capture(order_id=order_id)
    voided = pay(700)
    services.payment_cancel(order_id=voided)
    pay(300, token="tok_decline")
    pay(50)
    services.payment_cancel(order_id=uuid.uuid4())

    summary = selectors.payment_summary()

    assert summary == {
        "authorized": selectors.StatusTotal(1, 50),
        "captured": selectors.StatusTotal(2, 3500),
        "voided": selectors.StatusTotal(1, 700),
        "refunded": selectors.StatusTotal(0, 0),
        "declined": selectors.StatusTotal(1, 300),
        "cancelled": selectors.StatusTotal(1, 0),
    }
    assert list(summary) == list(Payment.Status.values)


def test_summary_of_some_orders_leaves_the_others_out():
    """Only the named orders' payments count; an order without a payment adds nothing."""
    mine, other = pay(1000), pay(9000)
    services.payment_capture(order_id=other)

    summary = selectors.payment_summary(order_ids=[mine, uuid.uuid4()])

    assert summary["authorized"] == selectors.StatusTotal(1, 1000)
    assert summary["captured"] == selectors.StatusTotal(0, 0)
