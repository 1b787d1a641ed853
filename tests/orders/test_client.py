"""Orders' client against orders' real REST API (a live server): orders come back as frozen
OrderInfo values and orders' error codes as orders' own classes."""

from __future__ import annotations

import uuid

import pytest

from core.api import ApplicationError
from orders import client
from orders.errors import IdempotencyKeyReused, OrderNotFound, OrderStateConflict
from orders.models import Order, OutboxMessage
from payments import client as payments_client
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

LINES = [
    client.OrderLineInfo(sku="MOUSE-WIRELESS", name="Wireless mouse", quantity=2, unit_price_cents=2999),
    client.OrderLineInfo(sku="SSD-2TB", name="2 TB NVMe SSD", quantity=1, unit_price_cents=13900),
]


def create(key: str | None = None, lines: list[client.OrderLineInfo] = LINES) -> client.OrderInfo:
    return client.order_create(email="ada@example.com", lines=lines, idempotency_key=key)


def test_create_returns_the_pending_order_with_its_lines_and_total(services_url):
    """order_create answers the stored pending order: lines as given, total in cents, one event."""
    order = create()
    assert order.status == "pending"
    assert order.total_cents == 2 * 2999 + 13900
    assert order.lines == tuple(LINES)
    assert [event["kind"] for event in order.events] == ["created"]
    assert Order.objects.get().id == uuid.UUID(order.order_id)


def test_create_sends_the_customer_tier_and_answers_it(services_url):
    """The tier the caller names is recorded on the order and comes back in its answer."""
    order = client.order_create(email="ada@example.com", lines=LINES, customer_tier="premium")
    assert order.customer_tier == "premium"
    assert Order.objects.get().customer_tier == "premium"


def test_an_unknown_tier_is_refused(services_url):
    """Orders records only the tiers it knows: anything else is invalid input."""
    with pytest.raises(ApplicationError) as refused:
        client.order_create(email="ada@example.com", lines=LINES, customer_tier="platinum")
    assert refused.value.extra == {"code": "invalid_request", "status": 400}
    assert not Order.objects.exists()


def test_create_with_the_same_key_and_basket_returns_the_same_order(services_url):
    """A retried create with the same idempotency key answers the first order."""
    assert create("key-1").order_id == create("key-1").order_id
    assert Order.objects.count() == 1


def test_create_with_the_same_key_and_another_basket_raises_idempotency_key_reused(services_url):
    """422 idempotency_key_reused round-trips as IdempotencyKeyReused."""
    first = create("key-1")
    with pytest.raises(IdempotencyKeyReused) as reused:
        create("key-1", lines=LINES[:1])
    assert reused.value.extra == {"order_id": first.order_id}


def test_invalid_input_raises_an_application_error_with_the_code(services_url):
    """A code the client does not map (invalid_request) raises ApplicationError carrying it."""
    with pytest.raises(ApplicationError) as refused:
        client.order_create(email="not-an-email", lines=LINES)
    assert refused.value.extra == {"code": "invalid_request", "status": 400}
    assert not Order.objects.exists()


def test_get_answers_the_order(services_url):
    """order_get answers the same order create did."""
    order = create()
    assert client.order_get(order_id=order.order_id) == order


def test_get_of_an_unknown_order_raises_order_not_found(services_url):
    """404 order_not_found round-trips as OrderNotFound."""
    with pytest.raises(OrderNotFound):
        client.order_get(order_id=uuid.uuid4())


def test_place_answers_the_placed_order_and_queues_finalisation(services_url):
    """order_place moves the order to placed and leaves one finalize outbox row."""
    order = create()
    placed = client.order_place(order_id=order.order_id)
    assert placed.status == "placed"
    assert [event["kind"] for event in placed.events] == ["created", "placed"]
    assert OutboxMessage.objects.get().task_name == "orders.finalize_order"


def test_place_of_a_failed_order_raises_order_state_conflict(services_url):
    """409 order_state_conflict round-trips as OrderStateConflict."""
    order = create()
    client.order_fail(order_id=order.order_id, reason="declined")
    with pytest.raises(OrderStateConflict):
        client.order_place(order_id=order.order_id)


def test_fail_undoes_the_payment_and_fails_the_order_with_the_reason(services_url):
    """order_fail voids the order's payment over REST and answers the failed order and its events."""
    order = create()
    payments_client.payment_authorize(
        order_id=uuid.UUID(order.order_id), amount_cents=order.total_cents, token="tok_ok"
    )
    failed = client.order_fail(order_id=order.order_id, reason="payment_declined: no")
    assert (failed.status, failed.reason) == ("failed", "payment_declined: no")
    assert [event["kind"] for event in failed.events][-3:] == ["payment_voided", "stock_none", "failed"]
    assert Payment.objects.get().status == Payment.Status.VOIDED
