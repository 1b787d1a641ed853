"""Confirmation and compensation of one order running at once (the capture's and commit's
reports landing while the compensation of a given-up finalize runs): exactly one of them
wins, and the money and the stock always agree with the order's status. Each interleaving is
replayed in one thread at the seams where the other side's steps land."""

from __future__ import annotations

import pytest

from inventory import client as inventory_client
from inventory.models import StockItem
from orders import services
from orders.errors import OrderStateConflict
from orders.models import Order, OutboxMessage
from payments import client as payments_client
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

Status = Order.Status
MOUSE = services.LineInput(sku="MOUSE-WIRELESS", name="Wireless mouse", quantity=3, unit_price_cents=2999)


def placed_order() -> Order:
    """A placed order as the checkout leaves it: 3 mice held, payment authorised."""
    order = services.order_create(email="ada@example.com", lines=[MOUSE])
    inventory_client.reservation_create(order_id=order.id, items=[(MOUSE.sku, 3)])
    payments_client.payment_authorize(order_id=order.id, amount_cents=order.total_cents, token="tok_ok")
    return services.order_place(order_id=order.id)


def kinds(order: Order) -> list[str]:
    return list(order.events.values_list("kind", flat=True))


def books(order: Order) -> tuple[str, str, int, int]:
    """Order status, payment status, and the mice sold and available (200 on hand)."""
    mouse = StockItem.objects.get(sku=MOUSE.sku)
    payment = Payment.objects.get(order_id=order.id)
    return Order.objects.get(pk=order.pk).status, payment.status, mouse.sold, mouse.available


def test_step_reports_that_land_during_the_undo_do_not_confirm_the_order(
    services_url, catalogue, monkeypatch, worker
):
    """Finalize asked for the steps; payments' worker captured and inventory's committed,
    but their reports to orders are still on orders' queue when a compensation claims the
    order (failing) and payments' and inventory's workers refund and release. The reports
    then land on a failing order and change nothing: the order fails, refunded, its stock
    returned."""
    order = placed_order()
    worker.clear()
    services.order_finalize(order_id=order.id)
    worker.run(skip=("orders.record_step",))  # captured and committed; the reports held back
    reports = (
        {"step": "capture", "outcome": "done", "detail": "payment captured"},
        {"step": "commit", "outcome": "done", "detail": "stock committed"},
    )
    services.order_compensate(order_id=order.id, reason="finalize gave up")
    worker.run(skip=("orders.send_order_email",))
    for report in reports:  # the held reports land now
        assert services.order_record_step(order_id=order.id, **report).status == Status.FAILED

    assert books(order) == (Status.FAILED, Payment.Status.REFUNDED, 0, 200)
    assert not {"confirmed", "capture_done", "commit_done"} & set(kinds(order))
    [email] = OutboxMessage.objects.filter(task_name="orders.send_order_email")
    assert email.kwargs["kind"] == "failed"


def test_a_compensation_that_finds_the_order_confirmed_undoes_nothing(
    services_url, catalogue, monkeypatch, worker
):
    """Compensation read the order placed; the steps' reports then confirmed it (stock
    committed, payment captured) before compensation's first write. Compensation's claim
    finds it confirmed and refuses before any undo: confirmed, captured, sold."""
    order = placed_order()
    real_get = services.order_get

    def read_then_the_steps_confirm(**kwargs):
        placed = real_get(**kwargs)
        monkeypatch.setattr(services, "order_get", real_get)
        services.order_finalize(order_id=order.id)
        worker.run(skip=("orders.send_order_email",))
        assert real_get(order_id=order.id).status == Status.CONFIRMED
        return placed

    worker.clear()
    monkeypatch.setattr(services, "order_get", read_then_the_steps_confirm)
    with pytest.raises(OrderStateConflict):
        services.order_compensate(order_id=order.id, reason="finalize gave up")

    assert books(order) == (Status.CONFIRMED, Payment.Status.CAPTURED, 3, 197)
    assert not {"failing", "payment_refunded", "stock_released", "failed"} & set(kinds(order))


def test_a_compensation_stopped_after_its_claim_completes_when_run_again(
    services_url, catalogue, monkeypatch, worker
):
    """The undo tasks are lost (the messages never reach a worker): the order stays failing
    (claimed, not failed half-way) and a finalize arriving meanwhile leaves it alone. Run
    again, as reconcile does, compensation completes with the first reason."""
    order = placed_order()
    worker.clear()
    services.order_compensate(order_id=order.id, reason="finalize gave up")
    worker.clear()  # lost
    order.refresh_from_db()
    assert (order.status, order.reason) == (Status.FAILING, "finalize gave up")
    services.order_finalize(order_id=order.id)
    assert books(order) == (Status.FAILING, Payment.Status.AUTHORIZED, 0, 197)

    services.order_compensate(order_id=order.id, reason="compensation retried")
    worker.run(skip=("orders.send_order_email",))

    failed = Order.objects.get(pk=order.pk)
    assert (failed.status, failed.reason) == (Status.FAILED, "finalize gave up")
    assert books(order) == (Status.FAILED, Payment.Status.VOIDED, 0, 200)
    assert kinds(order) == [
        "created",
        "placed",
        "failing",
        "undo_requested",
        "undo_requested",
        "payment_voided",
        "stock_released",
        "failed",
    ]
    assert OutboxMessage.objects.filter(task_name="orders.send_order_email").count() == 1
