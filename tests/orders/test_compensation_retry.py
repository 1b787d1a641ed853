"""Every authorisation ends in exactly one void or refund, even when compensation's
first call to payments times out and compensation is run again."""

from __future__ import annotations

import time

import pytest

from core.api import ServiceUnavailable
from inventory import client as inventory_client
from orders import services
from orders.models import Order
from payments import client as payments_client
from payments import gateway
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def placed_order() -> Order:
    order = services.order_create(
        email="ada@example.com", lines=[services.LineInput("MOUSE-WIRELESS", "Wireless mouse", 1, 2999)]
    )
    inventory_client.reservation_create(order_id=order.id, items=[("MOUSE-WIRELESS", 1)])
    payments_client.payment_authorize(order_id=order.id, amount_cents=2999, token="tok_ok")
    return services.order_place(order_id=order.id)


def test_a_compensation_whose_first_call_times_out_voids_exactly_once(
    services_url, catalogue, faults, settings, monkeypatch
):
    """The first cancel outlives the caller's read timeout (the void still happens on the
    payments side) and leaves the order failing; the retried compensation replays the
    cancel: one void, the order failed."""
    order = placed_order()
    voids = []
    real_void = gateway.void

    def void(**kwargs):
        voids.append(kwargs)
        return real_void(**kwargs)

    monkeypatch.setattr(gateway, "void", void)
    settings.SERVICE_TIMEOUT = (2, 0.3)
    faults({"gateway_latency": 800})

    with pytest.raises(ServiceUnavailable):
        services.order_compensate(order_id=order.id, reason="finalize gave up")
    # Claimed, not failed half-way: finalize can no longer confirm it.
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILING

    deadline = time.monotonic() + 10  # the first cancel completes on the payments side
    while Payment.objects.get(order_id=order.id).status != Payment.Status.VOIDED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    faults({"gateway_latency": 0})

    failed = services.order_compensate(order_id=order.id, reason="compensation retried")
    assert (failed.status, failed.reason) == (Order.Status.FAILED, "finalize gave up")
    assert len(voids) == 1
    failed = services.order_compensate(order_id=order.id, reason="finalize gave up")

    assert failed.status == Order.Status.FAILED
    assert len(voids) == 1
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.VOIDED
    assert [e.kind for e in failed.events.all()][-3:] == ["payment_voided", "stock_released", "failed"]
