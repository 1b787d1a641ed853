"""The checkout saga's synchronous half, run in the test against the other apps' real APIs:
create the order, reserve, authorise, place; a refusal fails the order and is re-raised."""

from __future__ import annotations

import time

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

from core.api import ApplicationError, ServiceUnavailable
from instrumentation import attributes
from instrumentation.context import get_tracer
from inventory.errors import InsufficientStock
from inventory.models import Reservation, StockItem
from orders.models import Order
from payments.errors import PaymentDeclined
from payments.models import Payment
from shop import services
from shop.errors import CheckoutFailed, EmptyCart, UnknownProduct
from shop.models import Customer, Product

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

Item = services.CheckoutItem


def checkout(*items: Item, token: str = "tok_ok", key: str | None = None):
    return services.checkout(
        items=list(items), email="ada@example.com", payment_token=token, idempotency_key=key
    )


def available(sku: str) -> int:
    return StockItem.objects.get(sku=sku).available


def test_checkout_places_the_order_with_catalogue_prices(services_url, catalogue):
    """A checkout answers the placed order, its lines priced from the catalogue; stock is held
    and the total authorised."""
    order = checkout(Item("MOUSE-WIRELESS", 2), Item("DOCK-USBC", 1))
    assert order.status == "placed"
    assert order.total_cents == 2 * 2999 + 12900
    assert {(line.sku, line.name, line.unit_price_cents) for line in order.lines} == {
        ("MOUSE-WIRELESS", "Wireless mouse", 2999),
        ("DOCK-USBC", "USB-C dock", 12900),
    }
    assert available("MOUSE-WIRELESS") == 198
    payment = Payment.objects.get(order_id=order.order_id)
    assert (payment.status, payment.amount_cents) == (Payment.Status.AUTHORIZED, order.total_cents)


def test_repeated_skus_become_one_line(services_url, catalogue):
    """The same SKU twice in the basket is one order line with the summed quantity."""
    order = checkout(Item("MOUSE-WIRELESS", 2), Item("MOUSE-WIRELESS", 3))
    assert [(line.sku, line.quantity) for line in order.lines] == [("MOUSE-WIRELESS", 5)]
    assert available("MOUSE-WIRELESS") == 195


def test_checkout_span_carries_the_order(services_url, catalogue, spans):
    """The checkout step is one span naming the order, its total and its basket size."""
    order = checkout(Item("MOUSE-WIRELESS", 2), Item("DOCK-USBC", 1))
    [span] = [span for span in spans.get_finished_spans() if span.name == "checkout"]
    assert span.attributes[attributes.ORDER_ID] == order.order_id
    assert span.attributes[attributes.ORDER_TOTAL_CENTS] == order.total_cents
    assert (span.attributes[attributes.ORDER_LINE_COUNT], span.attributes[attributes.ORDER_ITEM_COUNT]) == (
        2,
        3,
    )


def test_checkout_records_the_customers_tier_on_the_order(services_url, catalogue):
    """The shop looks the tier up by email and the order records it; unknown is standard."""
    Customer.objects.create(email="ada@example.com", tier=Customer.Tier.PREMIUM)
    order = checkout(Item("MOUSE-WIRELESS", 1))
    assert order.customer_tier == "premium"
    assert Order.objects.get(pk=order.order_id).customer_tier == "premium"
    stranger = services.checkout(
        items=[Item("MOUSE-WIRELESS", 1)], email="new@example.com", payment_token="tok_ok"
    )
    assert stranger.customer_tier == "standard"


def test_every_span_of_the_checkout_carries_the_tier_and_the_steps_the_order_id(
    services_url, catalogue, spans
):
    """The tier rides as baggage from the start, the order id from its creation on, through
    every REST hop (the apps' server spans and their statements included)."""
    Customer.objects.create(email="ada@example.com", tier=Customer.Tier.PREMIUM)
    with get_tracer(__name__).start_as_current_span("request"):
        order = checkout(Item("MOUSE-WIRELESS", 1))
    finished = spans.get_finished_spans()
    untagged = [span for span in finished if attributes.CUSTOMER_TIER not in span.attributes]
    # Only the tier lookup itself, which runs before the shop knows the tier (a fast read, so
    # folded into its parent and not exported at all: instrumentation/statements.py).
    assert all("shop_customer" in str(span.attributes.get("db.statement")) for span in untagged)
    assert {span.attributes.get(attributes.CUSTOMER_TIER) for span in finished if span not in untagged} == {
        "premium"
    }
    servers = [span for span in finished if span.kind.name == "SERVER"]
    assert {span.attributes[attributes.CUSTOMER_TIER] for span in servers} == {"premium"}
    after_create = [
        s for s in servers if "reservations" in s.name or "payments" in s.name or "place" in s.name
    ]
    assert after_create and {s.attributes[attributes.ORDER_ID] for s in after_create} == {order.order_id}


def test_a_claimed_tier_in_the_callers_baggage_is_overridden_by_the_shops_lookup(
    services_url, catalogue, spans
):
    """A caller claiming ``customer.tier=premium`` for a free customer: the order and every
    span of the checkout say free, the span already running included."""
    Customer.objects.create(email="ada@example.com", tier=Customer.Tier.FREE)
    claimed = baggage.set_baggage(attributes.CUSTOMER_TIER, "premium")
    token = otel_context.attach(claimed)
    try:
        with get_tracer(__name__).start_as_current_span("request"):
            order = checkout(Item("MOUSE-WIRELESS", 1))
    finally:
        otel_context.detach(token)
    assert order.customer_tier == "free"
    tiers = {span.attributes.get(attributes.CUSTOMER_TIER) for span in spans.get_finished_spans()}
    assert tiers <= {"free", None} and "free" in tiers


def test_an_empty_basket_is_refused_before_any_order(services_url, catalogue):
    """No items raises EmptyCart and creates no order."""
    with pytest.raises(EmptyCart):
        checkout()
    assert not Order.objects.exists()


@pytest.mark.parametrize("sku", ["NO-SUCH-SKU", "SSD-2TB"], ids=["unknown", "inactive"])
def test_a_sku_not_for_sale_is_refused_before_any_order(services_url, catalogue, sku):
    """A SKU that is unknown or no longer sold raises UnknownProduct naming it; nothing is written."""
    Product.objects.filter(sku="SSD-2TB").update(active=False)
    with pytest.raises(UnknownProduct) as refused:
        checkout(Item("MOUSE-WIRELESS", 1), Item(sku, 1))
    assert refused.value.extra == {"skus": [sku]}
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()
    assert available("MOUSE-WIRELESS") == 200


def test_a_decline_fails_the_order_releases_the_stock_and_is_re_raised(services_url, catalogue):
    """A declined card fails the order with the decline as its reason, gives the held stock
    back, and re-raises PaymentDeclined carrying the order id."""
    with pytest.raises(PaymentDeclined) as declined:
        checkout(Item("MOUSE-WIRELESS", 2), token="tok_decline")
    order = Order.objects.get(pk=declined.value.extra["order_id"])
    assert order.status == Order.Status.FAILED
    assert order.reason == f"payment_declined: {declined.value.message}"
    assert available("MOUSE-WIRELESS") == 200
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.DECLINED


def test_a_shortage_fails_the_order_before_any_payment(services_url, catalogue):
    """Too few units fails the order and re-raises InsufficientStock; the card is never asked."""
    with pytest.raises(InsufficientStock) as refused:
        checkout(Item("MOUSE-WIRELESS", 1), Item("LAPTOP-GAMING-15", 26))
    order = Order.objects.get(pk=refused.value.extra["order_id"])
    assert order.status == Order.Status.FAILED
    assert order.reason.startswith("insufficient_stock: ")
    assert (available("MOUSE-WIRELESS"), available("LAPTOP-GAMING-15")) == (200, 25)
    # The card was never asked; the payment is only marked cancelled (no money), so an
    # authorisation for this order can never stand.
    assert list(Payment.objects.values_list("status", "amount_cents")) == [(Payment.Status.CANCELLED, 0)]


def test_the_same_checkout_again_answers_the_first_order(services_url, catalogue):
    """With the same idempotency key a placed checkout is answered again without reserving twice."""
    first = checkout(Item("MOUSE-WIRELESS", 2), key="basket-1")
    again = checkout(Item("MOUSE-WIRELESS", 2), key="basket-1")
    assert (again.order_id, again.status) == (first.order_id, "placed")
    assert Order.objects.count() == 1
    assert available("MOUSE-WIRELESS") == 198


def test_the_same_checkout_again_after_it_failed_is_refused_not_answered_202(services_url, catalogue):
    """A failed checkout retried with its key (its first answer lost) is told it failed."""
    with pytest.raises(PaymentDeclined):
        checkout(Item("MOUSE-WIRELESS", 1), token="tok_decline", key="basket-2")
    with pytest.raises(CheckoutFailed) as failed:
        checkout(Item("MOUSE-WIRELESS", 1), token="tok_decline", key="basket-2")
    assert failed.value.status_code == 409
    assert failed.value.extra["reason"].startswith("payment_declined")
    assert Order.objects.count() == 1 and Payment.objects.count() == 1


def test_the_same_checkout_again_while_its_order_is_being_undone_is_refused(services_url, catalogue):
    """A checkout retried while its order is failing (compensation running) is told it
    failed, never answered "placed" again."""
    first = checkout(Item("MOUSE-WIRELESS", 1), key="basket-3")
    Order.objects.filter(pk=first.order_id).update(status=Order.Status.FAILING, reason="finalize gave up")
    with pytest.raises(CheckoutFailed) as failed:
        checkout(Item("MOUSE-WIRELESS", 1), key="basket-3")
    assert failed.value.extra == {"order_id": first.order_id, "reason": "finalize gave up"}


def test_an_authorisation_that_outlives_the_checkout_is_voided_when_it_lands(
    services_url, catalogue, faults, settings
):
    """The card gateway is slower than the shop's read timeout: the checkout gives up
    (503), fails the order and releases its stock while the authorisation is still at the
    gateway. When the authorisation lands it finds the payment cancelled and is voided:
    no money stays held for a failed order."""
    # Every call of the checkout gets the same read timeout, the order's fail call included:
    # 1.5 s leaves it room on a loaded machine (CI saw 0.3 s expire there too), and the
    # gateway takes twice that.
    settings.SERVICE_TIMEOUT = (2, 1.5)
    faults({"gateway_latency": 3000})
    with pytest.raises(ServiceUnavailable) as gave_up:
        checkout(Item("MOUSE-WIRELESS", 1))
    order = Order.objects.get(pk=gave_up.value.extra["order_id"])
    assert order.status == Order.Status.FAILED and available("MOUSE-WIRELESS") == 200
    # What the customer sees (the error, the order's reason) names no internal URL.
    assert gave_up.value.message == services.UNAVAILABLE
    assert order.reason == f"service_unavailable: {services.UNAVAILABLE}"

    payments = Payment.objects.filter(order_id=order.id)
    deadline = time.monotonic() + 10  # the authorisation lands on the payments side
    while (status := payments.values_list("status", flat=True).first()) != Payment.Status.VOIDED:
        assert time.monotonic() < deadline, f"the payment stayed {status}"
        time.sleep(0.05)
    assert payments.get().amount_cents == order.total_cents


def test_an_unreachable_app_is_service_unavailable_without_its_url(catalogue):
    """With orders unreachable the checkout raises service_unavailable in the shop's words;
    the callee's URL and the connection error are logged, not shown."""
    with pytest.raises(ServiceUnavailable) as failed:
        checkout(Item("MOUSE-WIRELESS", 1))
    assert failed.value.message == services.UNAVAILABLE
    assert "http" not in str(failed.value.as_dict()) and "127.0.0.1" not in str(failed.value.as_dict())


def test_an_answer_no_client_maps_is_service_unavailable_without_its_url(catalogue, monkeypatch):
    """A 4xx the shop did not expect (a bare ApplicationError naming the URL and status)
    reaches the customer as service_unavailable, not as an undocumented code."""

    def refused(**kwargs):
        raise ApplicationError(
            "POST http://orders.internal/api/orders/ answered 400: nope", extra={"code": "x", "status": 400}
        )

    monkeypatch.setattr("orders.client.order_create", refused)
    with pytest.raises(ServiceUnavailable) as failed:
        checkout(Item("MOUSE-WIRELESS", 1))
    expected = {"code": "service_unavailable", "message": services.UNAVAILABLE, "extra": {}}
    assert failed.value.as_dict() == expected
