"""The shop's public API over real HTTP (a live server that every app's client calls):
checkout answers 202 for a placed order, a stable error code for bad input and refusals,
and a refused checkout leaves no stock held and no money taken."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from inventory.models import Reservation, StockItem
from orders.models import Order
from payments.models import Payment
from shop.demo import CATALOGUE

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

STOCK = {sku: units for sku, _, _, _, units in CATALOGUE}
GOOD: dict[str, Any] = {
    "items": [{"sku": "MOUSE-WIRELESS", "quantity": 2}, {"sku": "KEYBOARD-MECH", "quantity": 1}],
    "email": "ada@example.com",
    "payment": {"method": "card", "token": "tok_ok"},
}


def checkout(base: str, body: dict | None = None, **kwargs) -> requests.Response:
    kwargs.setdefault("json", body)
    return requests.post(f"{base}/api/shop/checkout/", timeout=10, **kwargs)


def with_(**changes) -> dict:
    return {**GOOD, **changes}


def stock_untouched() -> bool:
    return {item.sku: item.available for item in StockItem.objects.all()} == STOCK


def no_money_taken() -> bool:
    """The card was never asked: the failed order's payment is only the cancelled marker
    (no amount) that turns away an authorisation arriving late."""
    return list(Payment.objects.values_list("status", "amount_cents")) == [(Payment.Status.CANCELLED, 0)]


def assert_nothing_written() -> None:
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()
    assert not Payment.objects.exists()
    assert stock_untouched()


# --- bad input ---------------------------------------------------------------------------


def test_malformed_json_is_400_malformed_json(services_url, catalogue):
    """A body that is not JSON is refused with code malformed_json and a message; nothing is written."""
    response = checkout(services_url, data='{"items": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_json" and body["message"]
    assert_nothing_written()


def test_unknown_sku_is_400_unknown_sku(services_url, catalogue):
    """A SKU the catalogue does not sell is refused with code unknown_sku naming it; nothing is written."""
    response = checkout(
        services_url,
        with_(items=[{"sku": "MOUSE-WIRELESS", "quantity": 1}, {"sku": "NO-SUCH-SKU", "quantity": 1}]),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_sku" and "NO-SUCH-SKU" in body["message"]
    assert body["extra"] == {"skus": ["NO-SUCH-SKU"]}
    assert_nothing_written()


@pytest.mark.parametrize(
    "body",
    [
        with_(items=[{"sku": "MOUSE-WIRELESS", "quantity": 0}]),
        with_(items=[{"sku": "MOUSE-WIRELESS", "quantity": -1}]),
        with_(items=[{"sku": "MOUSE-WIRELESS", "quantity": "two"}]),
        with_(items=[{"sku": "MOUSE-WIRELESS", "quantity": 101}]),
        with_(items=[{"sku": "MOUSE-WIRELESS"}]),
        with_(items=[]),
        with_(items={"sku": "MOUSE-WIRELESS", "quantity": 1}),
        with_(email="not-an-email"),
        with_(email="a" * 64 + "@" + "b" * 60 + ".example.com" * 16),
        with_(payment={"method": "cash", "token": "tok_ok"}),
        with_(payment={"method": "card"}),
        {key: value for key, value in GOOD.items() if key != "email"},
        {key: value for key, value in GOOD.items() if key != "items"},
        {key: value for key, value in GOOD.items() if key != "payment"},
        {},
        [GOOD],
    ],
    ids=[
        "quantity-zero",
        "quantity-negative",
        "quantity-not-a-number",
        "quantity-too-many",
        "quantity-missing",
        "items-empty",
        "items-not-a-list",
        "email-invalid",
        "email-too-long",
        "payment-method",
        "payment-token-missing",
        "email-missing",
        "items-missing",
        "payment-missing",
        "empty-object",
        "not-an-object",
    ],
)
def test_invalid_checkout_is_400_invalid_request(services_url, catalogue, body):
    """Input the checkout cannot take is refused with code invalid_request and a message
    naming the field; no order, reservation or payment is written."""
    response = checkout(services_url, body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == "invalid_request"
    assert answer["message"].startswith("Invalid request: ")
    assert set(answer) == {"code", "message", "extra"}
    assert_nothing_written()


def test_an_idempotency_key_over_255_characters_is_400_invalid_idempotency_key(services_url, catalogue):
    """An Idempotency-Key header over 255 characters is bad input: invalid_idempotency_key,
    nothing written; one of 255 is taken (stored hashed, it fits every table)."""
    response = checkout(services_url, GOOD, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in response.json()["message"]
    assert_nothing_written()
    assert checkout(services_url, GOOD, headers={"Idempotency-Key": "k" * 255}).status_code == 202


def test_missing_fields_are_named_in_the_message(services_url, catalogue):
    """The message says which field is wrong."""
    response = checkout(services_url, {key: value for key, value in GOOD.items() if key != "email"})
    assert response.json()["message"] == "Invalid request: email: This field is required."


# --- happy path and refusals ---------------------------------------------------------------


def test_checkout_places_the_order_and_answers_202(services_url, catalogue):
    """A good checkout answers 202 with the placed order's id, status URL and trace id,
    and a traceresponse header of the same trace; its stock is held and its payment authorised."""
    response = checkout(services_url, GOOD)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"order_id", "status", "status_url", "trace_id"}
    assert body["status"] == "placed"
    order = Order.objects.get(pk=body["order_id"])
    assert (order.status, order.total_cents) == (Order.Status.PLACED, 2 * 2999 + 8900)
    assert body["status_url"] == f"{services_url}/api/shop/orders/{body['order_id']}/"
    assert len(body["trace_id"]) == 32 and body["trace_id"] == order.trace_id
    _version, trace_id, _span_id, _flags = response.headers["traceresponse"].split("-")
    assert trace_id == body["trace_id"]
    assert Reservation.objects.get(order_id=order.id).status == Reservation.Status.HELD
    assert StockItem.objects.get(sku="MOUSE-WIRELESS").available == STOCK["MOUSE-WIRELESS"] - 2
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.AUTHORIZED


def test_checkout_retried_with_the_same_idempotency_key_answers_the_same_order(services_url, catalogue):
    """A checkout retried with the same Idempotency-Key places one order and holds its stock once."""
    first = checkout(services_url, GOOD, headers={"Idempotency-Key": "retry-1"})
    again = checkout(services_url, GOOD, headers={"Idempotency-Key": "retry-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["order_id"] == first.json()["order_id"]
    assert Order.objects.count() == 1
    assert StockItem.objects.get(sku="MOUSE-WIRELESS").available == STOCK["MOUSE-WIRELESS"] - 2


def test_idempotency_key_reused_for_another_basket_is_refused(services_url, catalogue):
    """The same Idempotency-Key with another basket is refused with idempotency_key_reused."""
    checkout(services_url, GOOD, headers={"Idempotency-Key": "retry-1"})
    response = checkout(services_url, with_(items=GOOD["items"][:1]), headers={"Idempotency-Key": "retry-1"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_declined_card_is_402_and_the_order_fails_with_nothing_held_or_charged(services_url, catalogue):
    """A declined card answers 402 payment_declined with the order id; the order is failed,
    its reservation released (stock back) and its payment declined (nothing charged)."""
    response = checkout(services_url, with_(payment={"method": "card", "token": "tok_decline"}))
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "payment_declined" and body["message"]
    order = Order.objects.get(pk=body["extra"]["order_id"])
    assert order.status == Order.Status.FAILED
    assert order.reason.startswith("payment_declined: ")
    assert Reservation.objects.get(order_id=order.id).status == Reservation.Status.RELEASED
    assert stock_untouched()
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.DECLINED


def test_payment_decline_fault_is_402(services_url, catalogue, faults):
    """With the payment_decline fault on, a good card is declined the same way."""
    faults({"payment_decline": 1.0})
    response = checkout(services_url, GOOD)
    assert response.status_code == 402
    assert response.json()["code"] == "payment_declined"
    assert stock_untouched()


def test_shortage_is_409_and_the_order_fails_with_nothing_held_or_charged(services_url, catalogue):
    """Asking for more than is in stock answers 409 insufficient_stock naming the SKU; the
    order is failed, no unit is held and no payment was made."""
    items = [{"sku": "MOUSE-WIRELESS", "quantity": 1}, {"sku": "LAPTOP-GAMING-15", "quantity": 26}]
    response = checkout(services_url, with_(items=items))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock" and "LAPTOP-GAMING-15" in body["message"]
    order = Order.objects.get(pk=body["extra"]["order_id"])
    assert order.status == Order.Status.FAILED
    assert order.reason.startswith("insufficient_stock: ")
    assert not Reservation.objects.exists()
    assert stock_untouched()
    assert no_money_taken()


def test_inventory_shortage_fault_is_409(services_url, catalogue, faults):
    """With the inventory_shortage fault on, a checkout is refused as out of stock."""
    faults({"inventory_shortage": 1.0})
    response = checkout(services_url, GOOD)
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert no_money_taken()


# --- order status and products ------------------------------------------------------------


def test_status_url_answers_the_order_and_its_events(services_url, catalogue):
    """GET status_url answers order_id, status, reason, trace_id and the events so far."""
    placed = checkout(services_url, GOOD).json()
    response = requests.get(placed["status_url"], timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert {"order_id", "status", "reason", "trace_id", "events"} <= set(body)
    assert (body["order_id"], body["status"], body["reason"]) == (placed["order_id"], "placed", "")
    assert body["trace_id"] == placed["trace_id"]
    assert [event["kind"] for event in body["events"]] == ["created", "placed"]


def test_status_of_a_failed_order_gives_the_reason(services_url, catalogue):
    """A failed order's status carries why it failed and the undo events."""
    declined = checkout(services_url, with_(payment={"method": "card", "token": "tok_decline"})).json()
    order_id = declined["extra"]["order_id"]
    body = requests.get(f"{services_url}/api/shop/orders/{order_id}/", timeout=10).json()
    assert body["status"] == "failed" and body["reason"].startswith("payment_declined: ")
    assert [event["kind"] for event in body["events"]] == [
        "created",
        "failing",
        "payment_declined",
        "stock_released",
        "failed",
    ]


def test_status_of_an_order_being_undone_is_failing_with_the_reason(services_url, catalogue):
    """While compensation undoes an order its status is "failing", with the reason already."""
    order_id = checkout(services_url, GOOD).json()["order_id"]
    Order.objects.filter(pk=order_id).update(status=Order.Status.FAILING, reason="finalize gave up")
    body = requests.get(f"{services_url}/api/shop/orders/{order_id}/", timeout=10).json()
    assert (body["status"], body["reason"]) == ("failing", "finalize gave up")


def test_status_of_an_unknown_order_is_404_order_not_found(services_url, catalogue):
    """An order id that does not exist answers 404 order_not_found."""
    response = requests.get(f"{services_url}/api/shop/orders/{uuid.uuid4()}/", timeout=10)
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"


def test_products_lists_the_catalogue_with_availability(services_url, catalogue):
    """GET products answers sku, name, price in cents and units available for each product."""
    checkout(services_url, GOOD)
    response = requests.get(f"{services_url}/api/shop/products/", timeout=10)
    assert response.status_code == 200
    products = {product["sku"]: product for product in response.json()}
    assert set(products) == set(STOCK)
    assert products["MOUSE-WIRELESS"] == {
        "sku": "MOUSE-WIRELESS",
        "name": "Wireless mouse",
        "price_cents": 2999,
        "available": STOCK["MOUSE-WIRELESS"] - 2,
    }


def test_the_public_shop_api_needs_no_token(services_url, catalogue):
    """The shop's own API is public: no Authorization header is needed."""
    assert requests.get(f"{services_url}/api/shop/products/", timeout=10).status_code == 200
