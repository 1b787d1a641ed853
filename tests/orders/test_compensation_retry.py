"""Every authorisation ends in exactly one void or refund, even when compensation asks
payments twice (reconcile asking again while the first undo is still on its way) and every
message is delivered twice."""

from __future__ import annotations

import pytest

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


def test_a_compensation_asked_twice_and_delivered_twice_voids_exactly_once(
    services_url, catalogue, monkeypatch, worker
):
    """Two compensations' undo tasks, each delivered twice (a redelivery after a lost ack):
    one void, the order failed once."""
    order = placed_order()
    voids = []
    real_void = gateway.void

    def void(**kwargs):
        voids.append(kwargs)
        return real_void(**kwargs)

    monkeypatch.setattr(gateway, "void", void)
    worker.clear()
    services.order_compensate(order_id=order.id, reason="finalize gave up")
    services.order_compensate(order_id=order.id, reason="compensation asked again")
    worker.queued += list(worker.queued)  # every message delivered twice

    worker.run(skip=("orders.send_order_email",))

    failed = Order.objects.get(pk=order.pk)
    assert (failed.status, failed.reason) == (Order.Status.FAILED, "finalize gave up")
    assert len(voids) == 1
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.VOIDED
    assert [e.kind for e in failed.events.all()][-3:] == ["payment_voided", "stock_released", "failed"]
