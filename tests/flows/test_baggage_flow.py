"""The customer's tier travels with the order as W3C baggage across the real processes: the
web server's REST hops, the broker to the Celery worker, and the worker's own REST hops, so
every span of the order's trace says its tier and its order. A tier claimed by the caller
is not believed: the shop's own lookup wins."""

from __future__ import annotations

import json

import pytest
import requests

from instrumentation import names
from tests.flows.conftest import confirmation_stored

pytestmark = pytest.mark.flow

TIER, ORDER_ID = "customer.tier", "order.id"


def make_customer(stack, email: str, tier: str) -> None:
    """A customer of the given tier in the stack's shop database (as the admin would)."""
    stack.manage(
        "shell",
        "-c",
        "from shop.models import Customer; "
        f"Customer.objects.update_or_create(email={email!r}, defaults={{'tier': {tier!r}}})",
    )


def checkout_as(stack, email: str, headers: dict[str, str] | None = None) -> dict:
    body = {
        "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}],
        "email": email,
        "payment": {"method": "card", "token": "tok_ok"},
    }
    response = requests.post(f"{stack.url}/api/shop/checkout/", json=body, headers=headers or {}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def confirmed_trace(stack, answer: dict) -> list[dict]:
    """The stored spans of a confirmed order's trace, once every run of it is in."""
    order = stack.wait_for_status(answer["order_id"], {"confirmed", "failed"})
    assert order["status"] == "confirmed", order
    return stack.trace(answer["order_id"], until=confirmation_stored)


def is_tier_lookup(span: dict) -> bool:
    """The lookup itself, and on PostgreSQL the session setup Django sends when the lookup
    opens a connection (``set_config('TimeZone'…``); fast reads, so exported only when
    slow (instrumentation/statements.py)."""
    statement = str(span["attributes"].get("db.statement", ""))
    return "shop_customer" in statement or statement.startswith("SELECT set_config('TimeZone'")


def before_the_tier_is_known(spans: list[dict]) -> list[dict]:
    """What runs before the shop knows the tier: the tier lookup, and the checkout
    throttle (its span and its Redis calls), run before the view (before its ``checkout``
    span)."""
    [checkout] = [span for span in spans if span["name"] == "checkout"]
    return [
        span
        for span in spans
        if is_tier_lookup(span)
        or span["name"] == names.CHECKOUT_THROTTLE_SPAN
        or (span["attributes"].get("db.system") == "redis" and span["start_time"] < checkout["start_time"])
    ]


def tiers_after_the_lookup(spans: list[dict]) -> dict[str, object]:
    early = {span["span_id"] for span in before_the_tier_is_known(spans)}
    return {span["name"]: span["attributes"].get(TIER) for span in spans if span["span_id"] not in early}


def test_every_span_of_a_premium_order_carries_its_tier_and_id_in_the_worker_too(calm):
    """A premium customer's checkout: the finalize run in orders' worker, the capture and
    the commit it asks of payments' and inventory's workers (a queue hop each), their
    statements and the email task all say premium and name the order; so does every other
    span of the trace but the tier lookup."""
    make_customer(calm, "vip@example.com", "premium")
    answer = checkout_as(calm, "vip@example.com")
    spans = confirmed_trace(calm, answer)

    workers = ("orders-worker", "payments-worker", "inventory-worker")
    worker = [span for span in spans if span["service"] in workers]
    [run] = [span for span in worker if span["name"] == names.run_span(names.FINALIZE_ORDER_TASK)]
    steps = [names.run_span(names.PAYMENT_CAPTURE_TASK), names.run_span(names.STOCK_COMMIT_TASK)]
    from_worker = [span for span in worker if span["name"] in steps]
    assert {span["service"] for span in from_worker} == {"payments-worker", "inventory-worker"}
    for span in [run, *worker, *from_worker]:
        assert span["attributes"].get(TIER) == "premium", span["name"]
        assert span["attributes"].get(ORDER_ID) == answer["order_id"], span["name"]

    tiers = tiers_after_the_lookup(spans)
    assert set(tiers.values()) == {"premium"}, json.dumps(tiers, indent=1)


def test_a_free_customer_claiming_premium_in_baggage_gets_free_on_every_span(calm):
    """A client sending ``baggage: customer.tier=premium`` for a free customer: the order
    records free and every span of its trace, the shop's own server span included, says free."""
    make_customer(calm, "trial@example.com", "free")
    answer = checkout_as(calm, "trial@example.com", headers={"baggage": "customer.tier=premium"})
    spans = confirmed_trace(calm, answer)

    order = calm.internal("GET", f"/api/orders/{answer['order_id']}/").json()
    assert order["customer_tier"] == "free"
    tiers = tiers_after_the_lookup(spans)
    assert set(tiers.values()) == {"free"}, json.dumps(tiers, indent=1)
