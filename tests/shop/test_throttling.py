"""The checkout's rate limit per client: the N+1th checkout in a window is answered 429 with
``Retry-After`` and the error shape's ``throttled`` code; other clients are not affected, a
made-up X-Forwarded-For does not make a new client, and a cache that does not answer lets
checkouts through. The storefront's checkout form counts against the same limit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from instrumentation import attributes, names

pytestmark = pytest.mark.django_db(databases="__all__")

CHECKOUT = "/api/shop/checkout/"


def checkout(client: Client, **headers: Any):
    # An empty body: refused by validation (400), after the throttle has counted it.
    return client.post(CHECKOUT, b"{}", content_type="application/json", **headers)


def test_the_checkout_past_the_rate_is_refused_with_retry_after(client, settings):
    settings.SHOP_CHECKOUT_RATE = "3/minute"
    assert [checkout(client).status_code for _ in range(3)] == [400, 400, 400]
    refused = checkout(client)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= 60
    body = refused.json()
    assert body["code"] == "throttled"
    assert body["extra"] == {"retry_after": retry_after}
    assert f"{retry_after} seconds" in body["message"]


def test_each_client_has_its_own_count(client, settings):
    settings.SHOP_CHECKOUT_RATE = "1/minute"
    assert checkout(client).status_code == 400
    assert checkout(client).status_code == 429
    assert checkout(client, REMOTE_ADDR="203.0.113.7").status_code == 400


def test_a_made_up_forwarded_for_header_is_not_a_new_client(client, settings):
    """Without proxies in front (THREADLINE_PROXY_COUNT=0), the address is REMOTE_ADDR."""
    settings.SHOP_CHECKOUT_RATE = "1/minute"
    assert checkout(client, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 400
    assert checkout(client, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 429


def test_checkouts_go_through_when_the_cache_does_not_answer(client, settings, spans):
    """A Redis outage must not become a shop outage: nothing listens on port 9. The
    throttle's span says the failure was tolerated, for the diagnosis to look past it."""
    settings.SHOP_CHECKOUT_RATE = "1/minute"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    assert [checkout(client).status_code for _ in range(3)] == [400, 400, 400]
    throttles = [s for s in spans.get_finished_spans() if s.name == names.CHECKOUT_THROTTLE_SPAN]
    assert len(throttles) == 3
    assert all("did not answer" in str(s.attributes[attributes.TOLERATED]) for s in throttles)


def test_a_throttle_that_counts_tolerates_nothing(client, settings, spans):
    settings.SHOP_CHECKOUT_RATE = "5/minute"
    assert checkout(client).status_code == 400
    (throttle,) = [s for s in spans.get_finished_spans() if s.name == names.CHECKOUT_THROTTLE_SPAN]
    assert attributes.TOLERATED not in throttle.attributes


CART = "/cart/"
FORM = {"checkout_key": "web-form-key-1", "email": "ada@example.com", "card": "tok_ok"}


def test_the_checkout_form_past_the_rate_is_429_with_retry_after_and_places_nothing(
    client, settings, catalogue, form_checkouts
):
    """The storefront's form counts like the API: past the rate its answer is 429 with
    Retry-After, a page that says to try again in that many seconds, the cart kept, and
    no checkout asked for."""
    settings.SHOP_CHECKOUT_RATE = "2/minute"
    client.post("/cart/add/MOUSE-WIRELESS/", {"quantity": "1"})
    assert [client.post(CART, FORM).status_code for _ in range(2)] == [200, 200]
    assert len(form_checkouts) == 2
    refused = client.post(CART, FORM)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= 60
    page = refused.content.decode()
    assert f"try again in {retry_after} seconds" in page
    assert "nothing was charged" in page and "Wireless mouse" in page  # the cart, kept
    assert len(form_checkouts) == 2
    assert client.session["cart"] == {"MOUSE-WIRELESS": 1}


def test_the_form_and_the_api_share_one_count_per_client(client, settings, catalogue, form_checkouts):
    """A client cannot double its checkouts by using both ways; another client is not affected."""
    settings.SHOP_CHECKOUT_RATE = "1/minute"
    assert checkout(client).status_code == 400
    assert client.post(CART, FORM).status_code == 429
    assert Client().post(CART, FORM, REMOTE_ADDR="203.0.113.7").status_code == 200
    assert client.get(CART).status_code == 200  # looking at the cart is not a checkout
