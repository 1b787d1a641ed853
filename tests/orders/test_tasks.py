"""Orders' tasks, run in this process with ``apply()`` to test their retry and give-up
policy (propagation across a real broker is the flow tests' job)."""

from __future__ import annotations

import datetime
import socket

import pytest
from django.db import OperationalError
from django.utils import timezone

from inventory import client as inventory_client
from orders import services, tasks
from orders.errors import OrderNotFound
from orders.models import Order, OutboxMessage
from payments import client as payments_client

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

Status = Order.Status


def placed_order(*, reserve: bool = True) -> Order:
    line = services.LineInput(sku="MOUSE-WIRELESS", name="Wireless mouse", quantity=1, unit_price_cents=2999)
    order = services.order_create(email="ada@example.com", lines=[line])
    if reserve:
        inventory_client.reservation_create(order_id=order.id, items=[("MOUSE-WIRELESS", 1)])
    payments_client.payment_authorize(order_id=order.id, amount_cents=2999, token="tok_ok")
    return services.order_place(order_id=order.id)


def compensation_requests(order: Order) -> list[dict]:
    return [m.kwargs for m in OutboxMessage.objects.filter(order=order, task_name="orders.compensate_order")]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_finalize_and_the_steps_reports_confirm_a_placed_order(services_url, catalogue, worker):
    """The finalize task asks for the capture and the commit; their reports confirm the order."""
    order = placed_order()
    worker.clear()
    tasks.finalize_order.apply(kwargs={"order_id": str(order.id)})
    assert worker.run(skip=("orders.send_order_email",)) == [
        "payments.capture_payment",
        "inventory.commit_reservation",
        "orders.record_step",
        "orders.record_step",
    ]
    order.refresh_from_db()
    assert order.status == Status.CONFIRMED


def test_finalize_retries_transient_errors_then_requests_compensation(
    services_url, catalogue, settings, monkeypatch
):
    """With the confirmation's write timing out, finalize tries 1 + ORDERS_FINALIZE_MAX_RETRIES
    times, then queues a compensation saying why; nothing is asked of payments or inventory."""
    order = placed_order()

    def timed_out(order: Order) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_write_confirmation", timed_out)
    tasks.finalize_order.apply(kwargs={"order_id": str(order.id)})
    order.refresh_from_db()
    assert order.status == Status.PLACED
    [request] = compensation_requests(order)
    attempts = settings.ORDERS_FINALIZE_MAX_RETRIES + 1
    assert request["reason"].startswith(f"finalize gave up after {attempts} attempts: OperationalError")
    assert order.events.filter(kind="finalize_gave_up").count() == 1
    assert not OutboxMessage.objects.filter(task_name="payments.capture_payment").exists()


def test_finalize_without_retries_gives_up_after_1_attempt_in_words(
    services_url, catalogue, settings, monkeypatch
):
    """ORDERS_FINALIZE_MAX_RETRIES=0: the reason says "after 1 attempt", not "1 attempts"."""
    settings.ORDERS_FINALIZE_MAX_RETRIES = 0
    order = placed_order()

    def timed_out(order: Order) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_write_confirmation", timed_out)
    tasks.finalize_order.apply(kwargs={"order_id": str(order.id)})
    [request] = compensation_requests(order)
    assert request["reason"].startswith("finalize gave up after 1 attempt: OperationalError")


def test_a_step_refused_for_good_compensates_what_the_other_did(services_url, catalogue, worker):
    """No reservation to commit: inventory's worker reports the commit failed, orders queues
    the compensation, which refunds the payment payments' worker captured; the order fails."""
    order = placed_order(reserve=False)
    worker.clear()
    tasks.finalize_order.apply(kwargs={"order_id": str(order.id)})
    worker.run(skip=("orders.send_order_email",))
    [request] = compensation_requests(order)
    assert request["reason"].startswith("commit failed: commit refused: reservation_not_found: ")
    order.refresh_from_db()
    assert order.status == Status.FAILED
    assert payments_client.payment_summary(order_ids=[order.id]).refunded.count == 1


def test_reconcile_asks_again_for_a_step_that_never_reported(services_url, catalogue, worker, settings):
    """Nothing waits forever: inventory's commit was lost, the order stays placed; past its
    deadline reconcile finalises again, which asks both steps again (the capture changes
    nothing the second time) and the order is confirmed, captured once."""
    order = placed_order()
    worker.clear()
    tasks.finalize_order.apply(kwargs={"order_id": str(order.id)})
    worker.run(skip=("inventory.commit_reservation", "orders.send_order_email"))
    assert Order.objects.get(pk=order.pk).status == Status.PLACED
    settings.ORDERS_STUCK_AFTER = 0

    tasks.reconcile.apply()
    worker.run(skip=("orders.send_order_email",))

    order.refresh_from_db()
    assert order.status == Status.CONFIRMED
    assert kinds_of(order).count("capture_done") == 1
    assert payments_client.payment_summary(order_ids=[order.id]).captured.count == 1


def test_reconcile_compensates_again_a_placed_order_a_step_failed_for(
    services_url, catalogue, worker, settings
):
    """A step failed and the compensation it asked for was lost: reconcile asks for the
    compensation again, never finalises again; the order fails."""
    order = placed_order(reserve=False)
    worker.clear()
    tasks.finalize_order.apply(kwargs={"order_id": str(order.id)})
    worker.run(skip=("orders.compensate_order", "orders.send_order_email"))
    settings.ORDERS_STUCK_AFTER = 0

    tasks.reconcile.apply()
    assert "orders.finalize_order" not in worker.run(skip=("orders.send_order_email",))

    order.refresh_from_db()
    assert order.status == Status.FAILED


def kinds_of(order: Order) -> list[str]:
    return list(order.events.values_list("kind", flat=True))


def test_a_task_for_an_order_this_database_does_not_hold_fails_without_compensating(caplog):
    """A message left in a shared broker by another copy of the shop: the task fails with
    OrderNotFound (an expected failure, logged without a traceback) and queues nothing."""
    unknown = "00000000-0000-4000-8000-000000000001"
    for task, kwargs in [
        (tasks.finalize_order, {"order_id": unknown}),
        (tasks.compensate_order, {"order_id": unknown, "reason": "gave up"}),
        (tasks.send_order_email, {"order_id": unknown, "kind": "confirmed"}),
        (tasks.record_step, {"order_id": unknown, "step": "capture", "outcome": "done"}),
    ]:
        result = task.apply(kwargs=kwargs)
        assert isinstance(result.result, OrderNotFound), task.name
    assert not OutboxMessage.objects.exists()
    assert "will be compensated" not in caplog.text
    assert "raised unexpected" not in caplog.text  # no traceback: an expected failure


def test_a_failed_task_of_no_order_is_logged_without_one(caplog, monkeypatch):
    """Reconcile met the database restarting: its failure names the task and the error,
    not "for order ?"; an order's task names its order."""

    def restarting(**_):
        raise OperationalError("the database system is not yet accepting connections")

    monkeypatch.setattr(tasks, "outbox_pending", restarting)
    tasks.reconcile.apply()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("task orders.reconcile[")]
    assert " failed (trace " in line and line.endswith(
        "OperationalError: the database system is not yet accepting connections"
    )
    tasks.finalize_order.apply(kwargs={"order_id": "00000000-0000-4000-8000-000000000001"})
    assert "failed for order 00000000-0000-4000-8000-000000000001 (trace" in caplog.text


def test_compensate_task_fails_the_order(services_url, catalogue, worker):
    """The compensate task has payments and inventory undo by task; their reports fail the
    order with the reason it was given."""
    order = placed_order()
    worker.clear()
    tasks.compensate_order.apply(kwargs={"order_id": str(order.id), "reason": "gave up"})
    assert worker.run(skip=("orders.send_order_email",)) == [
        "payments.cancel_payment",
        "inventory.release_reservation",
        "orders.record_undo",
        "orders.record_undo",
    ]
    order.refresh_from_db()
    assert (order.status, order.reason) == (Status.FAILED, "gave up")


def test_reconcile_asks_again_for_an_undo_step_that_never_reported(services_url, catalogue, worker, settings):
    """Nothing waits forever: inventory's release was lost, the order stays failing; past its
    deadline reconcile compensates again, which asks both steps again (payments' changes
    nothing the second time) and the order fails."""
    order = placed_order()
    worker.clear()
    tasks.compensate_order.apply(kwargs={"order_id": str(order.id), "reason": "gave up"})
    worker.run(skip=("inventory.release_reservation", "orders.send_order_email"))
    assert Order.objects.get(pk=order.pk).status == Status.FAILING
    settings.ORDERS_STUCK_AFTER = 0

    tasks.reconcile.apply()
    worker.run(skip=("orders.send_order_email",))

    order.refresh_from_db()
    assert (order.status, order.reason) == (Status.FAILED, "gave up")
    kinds = list(order.events.values_list("kind", flat=True))
    assert kinds.count("payment_voided") == 1 and kinds.count("stock_released") == 1


def test_send_order_email_task_sends_once(mailoutbox):
    """Delivered twice, the email task sends one email."""
    order = Order.objects.create(email="ada@example.com", total_cents=100, status=Status.FAILED)
    for _ in range(2):
        tasks.send_order_email.apply(kwargs={"order_id": str(order.id), "kind": "failed"})
    assert len(mailoutbox) == 1


def test_reconcile_requests_compensation_for_abandoned_pending_orders(settings):
    """A pending order older than ORDERS_STUCK_AFTER gets a compensation queued; a fresh one does not."""
    settings.ORDERS_STUCK_AFTER = 60
    abandoned = Order.objects.create(email="ada@example.com", total_cents=100)
    fresh = Order.objects.create(email="ada@example.com", total_cents=100)
    Order.objects.filter(pk=abandoned.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=5))
    result = tasks.reconcile.apply().get()
    assert result["orders_pushed_on"] == 1
    assert compensation_requests(abandoned) == [
        {"order_id": str(abandoned.id), "reason": "checkout did not complete in time"}
    ]
    assert compensation_requests(fresh) == []


def test_reconcile_compensates_again_an_order_left_failing(settings):
    """An order claimed by compensation whose undo stopped half-way (failing, untouched
    past ORDERS_STUCK_AFTER) gets its compensation queued again with its reason."""
    settings.ORDERS_STUCK_AFTER = 60
    order = Order.objects.create(
        email="ada@example.com", total_cents=100, status=Status.FAILING, reason="payment_declined: no"
    )
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=5))
    assert tasks.reconcile.apply().get()["orders_pushed_on"] == 1
    assert compensation_requests(order) == [{"order_id": str(order.id), "reason": "payment_declined: no"}]


# -- emails lost with the broker ------------------------------------------------------------

EMAIL_TASK = "orders.send_order_email"


def ended_order(status: str, *, minutes_ago: float = 20, placed: bool = True) -> Order:
    order = Order.objects.create(email="ada@example.com", total_cents=100, status=status)
    if placed:
        order.events.create(kind="placed", message="reserved and authorised")
    ended_at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    Order.objects.filter(pk=order.pk).update(updated_at=ended_at)
    return order


def email_sent_to_the_broker(order: Order, kind: str, *, minutes_ago: float = 20) -> OutboxMessage:
    """An email message the broker took (delivered), then lost: no email on record."""
    at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    message = OutboxMessage.objects.create(
        order=order, task_name=EMAIL_TASK, kwargs={"order_id": str(order.id), "kind": kind}, delivered_at=at
    )
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=at)
    return message


def email_messages(order: Order) -> list[dict]:
    return [m.kwargs for m in OutboxMessage.objects.filter(order=order, task_name=EMAIL_TASK).order_by("pk")]


def test_reconcile_queues_again_an_email_the_broker_lost(settings, mailoutbox):
    """A broker that restarts empty loses the email tasks it had taken: the confirmed
    order has no email on record past ORDERS_EMAIL_RESEND_AFTER, so reconcile queues it
    again, once; the task then sends it, once."""
    settings.ORDERS_EMAIL_RESEND_AFTER = 600
    order = ended_order(Status.CONFIRMED)
    email_sent_to_the_broker(order, "confirmed")
    assert tasks.reconcile.apply().get()["emails_queued_again"] == 1
    assert email_messages(order) == [{"order_id": str(order.id), "kind": "confirmed"}] * 2
    assert order.events.filter(kind="reconcile_email").count() == 1
    assert tasks.reconcile.apply().get()["emails_queued_again"] == 0  # the new message is recent
    for _ in range(2):  # the lost task turns up after all: still one email
        tasks.send_order_email.apply(kwargs={"order_id": str(order.id), "kind": "confirmed"})
    assert len(mailoutbox) == 1


def test_a_failed_order_is_owed_its_email_only_if_the_customer_was_told_received(settings):
    settings.ORDERS_EMAIL_RESEND_AFTER = 600
    told = ended_order(Status.FAILED)
    email_sent_to_the_broker(told, "failed")
    never_placed = ended_order(Status.FAILED, placed=False)  # refused at checkout: answered there
    assert tasks.reconcile.apply().get()["emails_queued_again"] == 1
    assert email_messages(told)[-1] == {"order_id": str(told.id), "kind": "failed"}
    assert email_messages(never_placed) == []


@pytest.mark.parametrize(
    "case",
    ["email on record", "last message recent", "message in the outbox", "max sends", "ended a day ago"],
)
def test_reconcile_leaves_an_email_alone_when_it_is_not_owed_again(settings, case):
    settings.ORDERS_EMAIL_RESEND_AFTER = 600
    settings.ORDERS_EMAIL_MAX_SENDS = 3
    order = ended_order(Status.CONFIRMED, minutes_ago=60 * 25 if case == "ended a day ago" else 20)
    sent_minutes_ago = 5 if case == "last message recent" else 20
    message = email_sent_to_the_broker(order, "confirmed", minutes_ago=sent_minutes_ago)
    if case == "email on record":
        order.events.create(kind="email_confirmed", message="sent to the customer (confirmed)")
    if case == "message in the outbox":  # the broker refused it: reconcile's relay publishes it
        OutboxMessage.objects.filter(pk=message.pk).update(delivered_at=None)
    if case == "max sends":
        for _ in range(2):
            email_sent_to_the_broker(order, "confirmed")
    before = email_messages(order)
    assert tasks.reconcile.apply().get()["emails_queued_again"] == 0
    assert email_messages(order) == before
    assert not order.events.filter(kind="reconcile_email").exists()
