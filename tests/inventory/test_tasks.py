"""Inventory's worker task: the compensation's stock step, run from inventory's queue and
reported back to orders by task."""

from __future__ import annotations

import uuid

import pytest

from inventory import services, tasks
from inventory.models import StockItem

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mice() -> StockItem:
    return services.stock_receive(sku="MOUSE", quantity=10)


def test_release_gives_the_units_back_and_reports_to_orders(worker, mice):
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[("MOUSE", 3)])
    tasks.release_reservation.apply(kwargs={"order_id": str(order_id), "idempotency_key": "release-x"})
    mice.refresh_from_db()
    assert mice.reserved == 0
    assert worker.queued == [
        (
            "orders.record_undo",
            {
                "order_id": str(order_id),
                "step": "stock",
                "outcome": "released",
                "idempotency_key": "release-x",
            },
        )
    ]


def test_release_delivered_twice_gives_back_once(worker, mice):
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[("MOUSE", 3)])
    services.reservation_commit(order_id=order_id)
    for _ in range(2):
        tasks.release_reservation.apply(kwargs={"order_id": str(order_id), "idempotency_key": "k"})
    mice.refresh_from_db()
    assert (mice.sold, mice.reserved, mice.on_hand) == (0, 0, 10)
    assert [kwargs["outcome"] for _, kwargs in worker.queued] == ["released", "released"]


def test_release_of_an_order_that_never_reserved_reports_none(worker, mice):
    tasks.release_reservation.apply(kwargs={"order_id": str(uuid.uuid4()), "idempotency_key": "k"})
    assert worker.queued[0][1]["outcome"] == "none"
