"""The checkout's Idempotency-Key: validated in the shop (1 to 255 printable ASCII
characters without spaces, else 400 invalid_idempotency_key in the shop's own words) and
scoped to the customer, so that the same key from two customers is two keys; the same for
the storefront form's hidden checkout key; and no public answer passes on an internal URL
from a failed call between the apps."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.test import Client

from orders.models import Order
from shop.models import IdempotentRequest
from shop.services import scoped_key

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

URL = "/api/shop/checkout/"
GOOD: dict[str, Any] = {
    "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
    "email": "ada@example.com",
    "payment": {"method": "card", "token": "tok_ok"},
}
BAD_KEYS = {
    "empty": "",
    "space-inside": "my key",
    "non-ascii": "clé-1",
    "control": "k\x01",
    "too-long": "k" * 256,
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_bad_idempotency_key_is_400_invalid_idempotency_key(key):
    """A header that is there but not a valid key is refused before anything is called or
    stored, with a documented code and a message naming no internal URL."""
    client = Client(raise_request_exception=False)
    response = client.post(URL, GOOD, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in body["message"] and "http" not in body["message"]
    assert not IdempotentRequest.objects.exists()


def post(base: str, body: dict, key: str) -> requests.Response:
    headers = {"Idempotency-Key": key}
    return requests.post(f"{base}/api/shop/checkout/", json=body, headers=headers, timeout=10)


def test_two_customers_with_the_same_key_each_get_their_own_order(services_url, catalogue):
    """The key is the customer's: another customer sending it places an order of their own
    (not a 422 that tells them the key is in use, nor a replay of someone else's order)."""
    ada = post(services_url, GOOD, "shared-key")
    bob = post(services_url, {**GOOD, "email": "bob@example.com"}, "shared-key")
    assert (ada.status_code, bob.status_code) == (202, 202), bob.text
    assert ada.json()["order_id"] != bob.json()["order_id"]
    assert "Idempotent-Replayed" not in bob.headers
    assert sorted(Order.objects.values_list("email", flat=True)) == ["ada@example.com", "bob@example.com"]


def test_the_same_customer_reusing_a_key_for_another_body_is_still_422(services_url, catalogue):
    """Within one customer the key keeps its meaning: the same body replays, another body
    is refused 422 idempotency_key_reused; the email's case does not make another customer."""
    first = post(services_url, GOOD, "mine")
    again = post(services_url, {**GOOD, "email": "ADA@example.com "}, "mine")
    other = post(services_url, {**GOOD, "items": [{"sku": "MOUSE-WIRELESS", "quantity": 2}]}, "mine")
    assert first.status_code == 202
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert again.status_code == 422  # the same customer (case aside), another body as typed
    assert Order.objects.count() == 1


def test_the_order_status_with_orders_unreachable_names_no_internal_url():
    """The public status call answers 503 service_unavailable in the shop's words when
    orders cannot be reached, not the internal URL it tried."""
    client = Client(raise_request_exception=False)
    response = client.get("/api/shop/orders/00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "service_unavailable" and "http" not in body["message"]


# The storefront's form: its hidden checkout_key goes into the same orders column as the
# API's keys, so it follows the same rule and is scoped the same way.
FORM = {"email": "ada@example.com", "card": "tok_ok"}


def with_cart(**extra: Any) -> Client:
    client = Client(**extra)
    client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "1"})
    return client


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_the_forms_bad_checkout_key_places_nothing(form_checkouts, catalogue, key):
    """A form whose hidden key the API would refuse asks for no checkout and tells the
    customer to reload the cart page."""
    page = with_cart().post("/cart/", {**FORM, "checkout_key": key})
    assert page.status_code == 200
    assert form_checkouts == []
    if key:  # an empty field is "required", as any field
        assert "reload the cart page" in page.content.decode()


def test_the_form_stores_its_key_scoped_to_the_customer(form_checkouts, catalogue):
    """The key passed on is the API's scoped, hashed form, never the field's raw value."""
    with_cart().post("/cart/", {**FORM, "email": " Ada@Example.com", "checkout_key": "web-1"})
    assert [call["idempotency_key"] for call in form_checkouts] == [scoped_key("ada@example.com", "web-1")]


def test_two_customers_submitting_the_same_form_key_each_get_their_own_order(services_url, catalogue):
    """A form key another customer used (a copied page, a guessed key) neither blocks the
    checkout nor shows that customer's order: each gets their own."""
    ada = with_cart().post("/cart/", {**FORM, "checkout_key": "web-shared"})
    bob = with_cart(REMOTE_ADDR="203.0.113.9").post(
        "/cart/", {**FORM, "email": "bob@example.com", "checkout_key": "web-shared"}
    )
    assert (ada.status_code, bob.status_code) == (302, 302), bob.content.decode()[-2000:]
    assert ada["Location"] != bob["Location"]
    keys = dict(Order.objects.values_list("email", "idempotency_key"))
    assert keys == {
        "ada@example.com": scoped_key("ada@example.com", "web-shared"),
        "bob@example.com": scoped_key("bob@example.com", "web-shared"),
    }
