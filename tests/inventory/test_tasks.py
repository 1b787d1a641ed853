"""Inventory's worker tasks: the confirmation's commit and the compensation's stock step, run
from inventory's queue and reported back to orders by task; a database error is retried."""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError

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


def commit(order_id: uuid.UUID) -> None:
    tasks.commit_reservation.apply(
        kwargs={"order_id": str(order_id), "idempotency_key": f"commit-{order_id}"}
    )


def test_commit_sells_the_held_units_and_reports_done_to_orders(worker, mice):
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[("MOUSE", 3)])
    commit(order_id)
    commit(order_id)  # delivered twice: sold once, reported again
    mice.refresh_from_db()
    assert (mice.reserved, mice.sold) == (0, 3)
    assert worker.queued == 2 * [
        (
            "orders.record_step",
            {
                "order_id": str(order_id),
                "step": "commit",
                "outcome": "done",
                "detail": "stock committed",
                "idempotency_key": f"commit-{order_id}",
            },
        )
    ]


def test_commit_of_a_released_reservation_reports_failed_and_sells_nothing(worker, mice):
    """Released first (the compensation, an expiry): no oversell, the commit is refused for good."""
    order_id = uuid.uuid4()
    services.reservation_create(order_id=order_id, items=[("MOUSE", 3)])
    services.reservation_release(order_id=order_id)
    commit(order_id)
    [(_, report)] = worker.queued
    assert report["outcome"] == "failed"
    assert report["detail"].startswith("commit refused: reservation_not_found: ")
    mice.refresh_from_db()
    assert (mice.reserved, mice.sold) == (0, 0)


def test_commit_the_database_keeps_refusing_is_retried_then_reported_failed(worker, mice, monkeypatch):
    calls = []

    def locked(**kwargs):
        calls.append(kwargs)
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "reservation_commit", locked)
    commit(uuid.uuid4())
    assert len(calls) == tasks.COMMIT_MAX_RETRIES + 1
    [(_, report)] = worker.queued
    assert report["outcome"] == "failed"
