"""One charge per checkout: the same checkout sent 10 times at once, and again after its
answer was lost, authorises the card once and answers every success with the same body."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from orders.models import Order
from payments import gateway
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TIMES = 10
BODY = {
    "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}, {"sku": "KEYBOARD-MECH", "quantity": 1}],
    "email": "ada@example.com",
    "payment": {"method": "card", "token": "tok_ok"},
}
HEADERS = {"Idempotency-Key": "double-click-42"}


@pytest.fixture
def authorisations(monkeypatch) -> list[str]:
    """Every authorisation that reaches the gateway simulator (which still answers); the
    live server runs in this process, so its threads call the same module."""
    calls: list[str] = []
    real = gateway.authorize

    def recording(**kwargs):
        calls.append(kwargs["idempotency_key"])
        return real(**kwargs)

    monkeypatch.setattr(gateway, "authorize", recording)
    return calls


def test_the_same_checkout_ten_times_at_once_and_after_a_lost_answer_charges_once(
    services_url, catalogue, authorisations
):
    """Ten concurrent sends of one checkout (same key and body) make one order and one
    authorisation; every 202 carries the same body and the rest are 409
    idempotency_request_in_progress, never a 500. Sent again later, as a client does whose
    answer was lost, it answers the same 202 body and charges nothing more."""
    start = threading.Barrier(TIMES)

    def send(_: int) -> requests.Response:
        start.wait(timeout=10)
        return requests.post(f"{services_url}/api/shop/checkout/", json=BODY, headers=HEADERS, timeout=30)

    with ThreadPoolExecutor(max_workers=TIMES) as pool:
        responses = list(pool.map(send, range(TIMES)))

    accepted = [response for response in responses if response.status_code == 202]
    refused = [response for response in responses if response.status_code != 202]
    assert accepted, [response.text for response in responses]
    assert {response.content for response in accepted} == {accepted[0].content}
    assert [(r.status_code, r.json()["code"]) for r in refused] == [
        (409, "idempotency_request_in_progress")
    ] * len(refused)
    order = Order.objects.get()
    assert accepted[0].json()["order_id"] == str(order.id)
    assert authorisations == [str(order.id)]
    assert Payment.objects.get().order_id == order.id

    retried = requests.post(f"{services_url}/api/shop/checkout/", json=BODY, headers=HEADERS, timeout=30)
    assert retried.status_code == 202
    assert retried.content == accepted[0].content
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert authorisations == [str(order.id)]
    assert Order.objects.count() == 1
