"""Orders' services: the order's state machine (pending → placed → confirmed, or
→ failing → failed),
idempotent creation, the outbox written with the state change, compensation over the
real inventory and payments APIs, and emails sent once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from opentelemetry import trace

from inventory import client as inventory_client
from inventory.models import StockItem
from orders import selectors, services
from orders.errors import IdempotencyKeyReused, OrderNotFound, OrderStateConflict
from orders.models import Order, OrderEvent, OutboxMessage
from payments import client as payments_client
from payments.models import Payment

Status = Order.Status
LIVE = pytest.mark.django_db(transaction=True, databases="__all__")

MOUSE = services.LineInput(sku="MOUSE-WIRELESS", name="Wireless mouse", quantity=3, unit_price_cents=2999)
KEYBOARD = services.LineInput(
    sku="KEYBOARD-MECH", name="Mechanical keyboard", quantity=1, unit_price_cents=8900
)


def create(*, key: str | None = None, lines=(MOUSE, KEYBOARD), email: str = "ada@example.com") -> Order:
    return services.order_create(email=email, lines=list(lines), idempotency_key=key)


def kinds(order: Order) -> list[str]:
    return list(order.events.values_list("kind", flat=True))


def force_status(order: Order, status: str) -> Order:
    """Put an order in a state directly, to test what the services do from there."""
    Order.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


def placed_order_with_stock_and_payment() -> Order:
    """A placed order as the checkout leaves it: stock held and payment authorised over REST."""
    order = create()
    inventory_client.reservation_create(order_id=order.id, items=[(MOUSE.sku, 3), (KEYBOARD.sku, 1)])
    payments_client.payment_authorize(order_id=order.id, amount_cents=order.total_cents, token="tok_ok")
    return services.order_place(order_id=order.id)


# --- create ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_stores_a_pending_order_with_its_total_in_integer_cents():
    """The total is the sum of quantity × unit price, in integer cents; lines are copied."""
    order = create()
    order.refresh_from_db()
    assert order.status == Status.PENDING
    assert order.total_cents == 3 * 2999 + 8900 == 17897
    assert isinstance(order.total_cents, int)
    assert sorted(order.lines.values_list("sku", "quantity", "unit_price_cents")) == [
        ("KEYBOARD-MECH", 1, 8900),
        ("MOUSE-WIRELESS", 3, 2999),
    ]
    assert kinds(order) == ["created"]


@pytest.mark.django_db
def test_create_records_the_current_trace_id():
    """An order created inside a trace remembers it, and so does its first event."""
    with trace.get_tracer(__name__).start_as_current_span("checkout") as span:
        order = create()
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert order.trace_id == trace_id
    assert order.events.get().trace_id == trace_id


@pytest.mark.django_db
def test_create_records_the_customer_tier_it_is_given():
    """The tier arrives as a value from the caller (the shop's lookup) and is stored."""
    order = services.order_create(email="vip@example.com", lines=[MOUSE], customer_tier="premium")
    order.refresh_from_db()
    assert order.customer_tier == Order.CustomerTier.PREMIUM


@pytest.mark.django_db
def test_create_without_a_tier_records_standard():
    """A caller that names no tier (the simulator, an old client) gets a standard order."""
    assert create().customer_tier == Order.CustomerTier.STANDARD


@pytest.mark.django_db
def test_the_stored_trace_context_carries_the_orders_tier_and_id_as_baggage():
    """Later work resumed from ``Order.trace_context`` (reconcile) carries the order's own
    tier and id, known here, whatever baggage the request that created it brought."""
    with trace.get_tracer(__name__).start_as_current_span("create request"):
        order = services.order_create(email="ada@example.com", lines=[MOUSE], customer_tier="free")
    assert set(order.trace_context["baggage"].split(",")) == {"customer.tier=free", f"order.id={order.id}"}
    assert order.trace_context["traceparent"].split("-")[1] == order.trace_id


@pytest.mark.django_db
def test_same_idempotency_key_and_basket_returns_the_first_order():
    """A retried create with the same key and basket (in any order) returns the first order."""
    first = create(key="checkout-1")
    again = create(key="checkout-1", lines=(KEYBOARD, MOUSE))
    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert kinds(again) == ["created"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"lines": (MOUSE,)},
        {"lines": (MOUSE, services.LineInput("KEYBOARD-MECH", "Mechanical keyboard", 2, 8900))},
        {"email": "someone.else@example.com"},
    ],
    ids=["fewer-lines", "other-quantity", "other-email"],
)
def test_same_idempotency_key_with_a_different_checkout_is_refused(change):
    """Reusing a key for a different basket or email raises IdempotencyKeyReused naming the first order."""
    first = create(key="checkout-1")
    with pytest.raises(IdempotencyKeyReused) as reused:
        create(key="checkout-1", **change)
    assert reused.value.extra == {"order_id": str(first.id)}
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_without_a_key_every_create_is_a_new_order():
    """No idempotency key (None or empty) means no deduplication."""
    create(key=None)
    create(key="")
    assert list(Order.objects.values_list("idempotency_key", flat=True)) == [None, None]


@pytest.mark.django_db
def test_get_of_an_unknown_order_is_not_found():
    """order_get raises OrderNotFound for an id that does not exist or is not an id."""
    with pytest.raises(OrderNotFound):
        services.order_get(order_id=uuid.uuid4())
    with pytest.raises(OrderNotFound):
        services.order_get(order_id="not-a-uuid")  # type: ignore[arg-type]  # the point: not an id


# --- place -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_place_moves_pending_to_placed_and_writes_one_outbox_row(django_capture_on_commit_callbacks):
    """Placing writes the status, a placed event and one finalize outbox row together;
    the task is published only when that transaction commits."""
    order = create()
    with django_capture_on_commit_callbacks(execute=False) as publish:
        placed = services.order_place(order_id=order.id)
    assert placed.status == Status.PLACED
    [message] = OutboxMessage.objects.all()
    assert (message.order_id, message.task_name, message.kwargs) == (
        order.id,
        "orders.finalize_order",
        {"order_id": str(order.id)},
    )
    assert message.delivered_at is None and len(publish) == 1
    publish[0]()  # the commit hook publishes (to the in-memory broker) and marks the row delivered
    message.refresh_from_db()
    assert message.delivered_at is not None and message.attempts == 1


@pytest.mark.django_db
def test_place_rolled_back_leaves_no_outbox_row():
    """The outbox row lives and dies with the status change: roll back one, lose both."""
    order = create()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_place(order_id=order.id)
        raise RuntimeError("the transaction fails after place")
    order.refresh_from_db()
    assert order.status == Status.PENDING
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_place_twice_changes_nothing_the_second_time():
    """A retried place returns the placed order with still one event and one outbox row."""
    order = create()
    services.order_place(order_id=order.id)
    assert services.order_place(order_id=order.id).status == Status.PLACED
    assert OutboxMessage.objects.count() == 1
    assert kinds(order) == ["created", "placed"]


@pytest.mark.django_db
def test_place_of_a_confirmed_order_returns_it_unchanged():
    """A late place never moves a confirmed order back to placed."""
    order = force_status(create(), Status.CONFIRMED)
    assert services.order_place(order_id=order.id).status == Status.CONFIRMED
    order.refresh_from_db()
    assert order.status == Status.CONFIRMED
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_place_of_a_failed_order_is_a_conflict():
    """A failed order cannot be placed; it stays failed and nothing is queued."""
    order = force_status(create(), Status.FAILED)
    with pytest.raises(OrderStateConflict):
        services.order_place(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Status.FAILED
    assert not OutboxMessage.objects.exists()
    assert kinds(order) == ["created"]


# --- status never moves backwards --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("terminal", [Status.CONFIRMED, Status.FAILED])
def test_finalize_of_a_terminal_order_changes_nothing(terminal):
    """A finalize delivered late returns a confirmed or failed order as it is."""
    order = force_status(create(), terminal)
    assert services.order_finalize(order_id=order.id).status == terminal
    order.refresh_from_db()
    assert order.status == terminal and order.confirmation_code == ""


@pytest.mark.django_db
def test_finalize_of_a_failing_order_changes_nothing():
    """An order claimed by compensation is left to it: finalize writes no confirmation,
    confirms nothing and raises nothing (the task ends; compensation decides)."""
    order = force_status(create(), Status.FAILING)
    assert services.order_finalize(order_id=order.id).status == Status.FAILING
    order.refresh_from_db()
    assert order.status == Status.FAILING and order.confirmation_code == ""
    assert kinds(order) == ["created"]


@pytest.mark.django_db
def test_place_of_a_failing_order_is_a_conflict():
    """A failing order is never placed (again): it stays failing and nothing is queued."""
    order = force_status(create(), Status.FAILING)
    with pytest.raises(OrderStateConflict):
        services.order_place(order_id=order.id)
    assert Order.objects.get(pk=order.pk).status == Status.FAILING
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_fail_checkout_of_a_placed_order_is_a_conflict_and_claims_nothing():
    """The shop's fail call leaves a placed order alone: its checkout completed."""
    order = create()
    services.order_place(order_id=order.id)
    with pytest.raises(OrderStateConflict) as conflict:
        services.order_fail_checkout(order_id=order.id, reason="lost answer")
    assert conflict.value.extra == {"status": Status.PLACED}
    order.refresh_from_db()
    assert (order.status, order.reason) == (Status.PLACED, "")
    assert kinds(order) == ["created", "placed"]


@pytest.mark.django_db
def test_push_on_of_a_failing_order_queues_its_compensation_again():
    """An order left failing (its undo stopped half-way, say the shop's fail call lost an
    app) is compensated again by reconcile, with the reason it was claimed with."""
    order = force_status(create(), Status.FAILING)
    Order.objects.filter(pk=order.pk).update(reason="service_unavailable: payments is down")
    services.order_push_on(order_id=order.id)
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.kwargs) == (
        "orders.compensate_order",
        {"order_id": str(order.id), "reason": "service_unavailable: payments is down"},
    )
    assert kinds(order) == ["created", "reconcile_compensate"]


def waited(order: Order, seconds: float) -> None:
    """As if nothing had touched ``order`` for ``seconds``."""
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db
def test_reconcile_waits_twice_as_long_after_each_push_until_the_status_changes():
    """A placed order still waiting after a push (its finalize in a backlog) is pushed again
    after two deadlines, then four, up to 32; not every run, which would add another
    finalize to the backlog each time. A new status starts from one deadline again."""
    order = force_status(create(), Status.PLACED)

    def stuck() -> list[uuid.UUID]:
        return [o.pk for o in selectors.orders_stuck(older_than_seconds=10)]

    waited(order, 11)
    assert stuck() == [order.pk]
    for pushes in range(1, selectors.MAX_DOUBLINGS + 3):
        services.order_push_on(order_id=order.id)
        order.refresh_from_db()
        assert order.pushes == pushes
        wait = 10 * 2 ** min(pushes, selectors.MAX_DOUBLINGS)
        waited(order, wait - 1)
        assert stuck() == [], pushes
        waited(order, wait + 1)
        assert stuck() == [order.pk], pushes
    assert kinds(order).count("reconcile_finalize") == selectors.MAX_DOUBLINGS + 2
    assert services._transition(order, [Status.PLACED], Status.FAILING)
    order.refresh_from_db()
    waited(order, 11)
    assert order.pushes == 0 and stuck() == [order.pk]


@pytest.mark.django_db
def test_a_push_made_before_the_broker_restarted_is_made_again_after_one_deadline():
    """The broker restarted (empty) after the order's third push: that push died with it,
    so the order is pushed again after one deadline, not eight."""
    order = force_status(create(), Status.PLACED)
    for _ in range(3):
        services.order_push_on(order_id=order.id)
    waited(order, 11)

    def stuck(**kwargs) -> list[uuid.UUID]:
        return [o.pk for o in selectors.orders_stuck(older_than_seconds=10, **kwargs)]

    assert stuck() == [] and stuck(broker_started_at=timezone.now() - timedelta(seconds=60)) == []
    assert stuck(broker_started_at=timezone.now() - timedelta(seconds=5)) == [order.pk]


@pytest.mark.django_db
def test_finalize_of_a_pending_order_is_a_conflict():
    """Only a placed order is finalised."""
    order = create()
    with pytest.raises(OrderStateConflict):
        services.order_finalize(order_id=order.id)
    order.refresh_from_db()
    assert order.status == Status.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize("terminal", [Status.CONFIRMED, Status.FAILED])
def test_compensation_request_for_a_terminal_order_queues_nothing(terminal):
    """Asking to compensate an order already confirmed or failed writes no event and no outbox row."""
    order = force_status(create(), terminal)
    assert services.order_request_compensation(order_id=order.id, reason="late").status == terminal
    assert not OutboxMessage.objects.exists()
    assert kinds(order) == ["created"]


@pytest.mark.django_db
def test_compensation_request_queues_the_compensation():
    """A placed order whose finalisation gave up gets a compensate outbox row with the reason."""
    order = create()
    services.order_place(order_id=order.id)
    services.order_request_compensation(order_id=order.id, reason="gave up")
    message = OutboxMessage.objects.get(task_name="orders.compensate_order")
    assert message.kwargs == {"order_id": str(order.id), "reason": "gave up"}
    assert kinds(order)[-1] == "finalize_gave_up"


@pytest.mark.django_db
def test_compensate_of_a_failed_order_changes_nothing():
    """Compensating an order that already failed returns it without calling anyone."""
    order = force_status(create(), Status.FAILED)
    assert services.order_compensate(order_id=order.id, reason="again").status == Status.FAILED
    assert kinds(order) == ["created"]


@pytest.mark.django_db
def test_compensate_of_a_confirmed_order_is_a_conflict():
    """A confirmed order is never compensated back to failed."""
    order = force_status(create(), Status.CONFIRMED)
    with pytest.raises(OrderStateConflict):
        services.order_compensate(order_id=order.id, reason="too late")
    order.refresh_from_db()
    assert order.status == Status.CONFIRMED


@pytest.mark.django_db
def test_a_confirmation_written_by_a_concurrent_duplicate_is_recorded_once():
    """Two deliveries of finalize read the order before either wrote its code: the one
    whose UPDATE finds the code already there records no second event."""
    order = force_status(create(), Status.PLACED)
    stale = Order.objects.get(pk=order.pk)  # read before the other delivery writes
    services._write_confirmation(Order.objects.get(pk=order.pk))
    services._write_confirmation(stale)
    assert kinds(order) == ["created", "confirmation_written"]
    assert stale.confirmation_code == f"TL-{order.id.hex[:10].upper()}"


# --- finalize and compensate over the real APIs --------------------------------------------


STEP_TASKS = ["payments.capture_payment", "inventory.commit_reservation"]


@LIVE
def test_finalize_writes_the_confirmation_and_asks_for_capture_and_commit_by_task(
    services_url, catalogue, worker
):
    """Finalising a placed order writes its confirmation code and asks payments' and
    inventory's workers, through the outbox, for the capture and the commit; the order stays
    placed, nothing is captured or sold yet. A repeat (reconcile) asks both again."""
    order = placed_order_with_stock_and_payment()
    worker.clear()
    finalized = services.order_finalize(order_id=order.id)
    assert finalized.status == Status.PLACED
    assert finalized.confirmation_code == f"TL-{order.id.hex[:10].upper()}"
    assert worker.names() == STEP_TASKS
    assert [kwargs for _, kwargs in worker.queued] == [
        {"order_id": str(order.id), "idempotency_key": f"capture-{order.id}"},
        {"order_id": str(order.id), "idempotency_key": f"commit-{order.id}"},
    ]
    assert StockItem.objects.get(sku=MOUSE.sku).sold == 0
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.AUTHORIZED
    services.order_finalize(order_id=order.id)
    assert worker.names() == STEP_TASKS * 2
    assert kinds(order) == ["created", "placed", "confirmation_written", "steps_requested", "steps_requested"]


@LIVE
def test_the_steps_reports_confirm_the_order_once_both_are_done(services_url, catalogue, worker):
    """Payments' worker captures, inventory's commits, each reports back; the second report
    confirms the order and queues the confirmation email. A report delivered again changes
    nothing."""
    order = placed_order_with_stock_and_payment()
    worker.clear()
    services.order_finalize(order_id=order.id)
    assert worker.run(skip=("orders.send_order_email",)) == [
        *STEP_TASKS,
        "orders.record_step",
        "orders.record_step",
    ]
    order.refresh_from_db()
    assert order.status == Status.CONFIRMED
    assert StockItem.objects.get(sku=MOUSE.sku).sold == 3
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.CAPTURED
    services.order_record_step(order_id=order.id, step="capture", outcome="done", detail="again")
    assert kinds(order)[-3:] == ["capture_done", "commit_done", "confirmed"]
    assert OutboxMessage.objects.filter(task_name="orders.send_order_email").count() == 1


@LIVE
def test_one_report_leaves_the_order_placed(services_url, catalogue):
    order = placed_order_with_stock_and_payment()
    services.order_finalize(order_id=order.id)
    placed = services.order_record_step(order_id=order.id, step="commit", outcome="done", detail="ok")
    assert placed.status == Status.PLACED
    assert kinds(order)[-1] == "commit_done"


@LIVE
def test_a_failed_step_asks_for_compensation_which_undoes_the_other_step(services_url, catalogue, worker):
    """Inventory's commit fails for good after payments captured: orders queues the
    compensation (once, however many reports), which refunds the capture and releases the
    stock; the order fails and is never confirmed."""
    order = placed_order_with_stock_and_payment()
    services.order_finalize(order_id=order.id)
    captured_and_reported(order)
    for _ in range(2):
        services.order_record_step(
            order_id=order.id, step="commit", outcome="failed", detail="db kept failing"
        )
    [request] = [m.kwargs for m in OutboxMessage.objects.filter(task_name="orders.compensate_order")]
    assert request["reason"] == "commit failed: db kept failing"
    worker.clear()
    services.order_compensate(order_id=order.id, reason=request["reason"])
    worker.run(skip=("orders.send_order_email",))
    order.refresh_from_db()
    assert order.status == Status.FAILED
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.REFUNDED
    assert StockItem.objects.get(sku=MOUSE.sku).reserved == 0
    assert "confirmed" not in kinds(order)


def captured_and_reported(order: Order) -> None:
    """Payments' worker captured and reported done."""
    payments_client.payment_capture(order_id=order.id)
    services.order_record_step(order_id=order.id, step="capture", outcome="done", detail="payment captured")


@pytest.mark.django_db
def test_an_unknown_step_report_is_refused():
    with pytest.raises(ValueError):
        services.order_record_step(order_id=uuid.uuid4(), step="ship", outcome="done")


UNDO_TASKS = ["payments.cancel_payment", "inventory.release_reservation"]


@LIVE
def test_compensate_claims_the_order_and_asks_payments_and_inventory_by_task(services_url, catalogue, worker):
    """The worker's compensation undoes nothing itself: it claims the order (failing) and
    asks payments' and inventory's workers, through the outbox, for the void and the
    release; the order stays failing until they report."""
    order = placed_order_with_stock_and_payment()
    worker.clear()
    failing = services.order_compensate(order_id=order.id, reason="finalize gave up")
    assert (failing.status, failing.reason) == (Status.FAILING, "finalize gave up")
    assert worker.names() == UNDO_TASKS
    assert [kwargs for _, kwargs in worker.queued] == [
        {"order_id": str(order.id), "idempotency_key": f"cancel-{order.id}"},
        {"order_id": str(order.id), "idempotency_key": f"release-{order.id}"},
    ]
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.AUTHORIZED
    assert kinds(order) == ["created", "placed", "failing", "undo_requested"]


@LIVE
def test_compensate_voids_releases_and_fails_the_order(services_url, catalogue, worker):
    """Once payments' and inventory's workers ran the undo and reported, the order is failed
    with the reason; the customer, told "received", gets a failure email queued."""
    order = placed_order_with_stock_and_payment()
    worker.clear()
    services.order_compensate(order_id=order.id, reason="finalize gave up")
    ran = worker.run(skip=("orders.send_order_email",))
    assert ran == [*UNDO_TASKS, "orders.record_undo", "orders.record_undo"]
    failed = Order.objects.get(pk=order.pk)
    assert (failed.status, failed.reason) == (Status.FAILED, "finalize gave up")
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.VOIDED
    assert StockItem.objects.get(sku=MOUSE.sku).available == 200
    assert StockItem.objects.get(sku=MOUSE.sku).reserved == 0
    assert kinds(order) == [
        "created",
        "placed",
        "failing",
        "undo_requested",
        "payment_voided",
        "stock_released",
        "failed",
    ]
    assert order.events.get(kind="failed").message == "finalize gave up"
    email = OutboxMessage.objects.get(task_name="orders.send_order_email")
    assert email.kwargs == {"order_id": str(order.id), "kind": "failed"}


@LIVE
def test_compensate_twice_changes_nothing(services_url, catalogue, worker):
    """A second compensation keeps the first reason, adds no events and queues no second email."""
    order = placed_order_with_stock_and_payment()
    worker.clear()
    services.order_compensate(order_id=order.id, reason="first")
    worker.run(skip=("orders.send_order_email",))
    again = services.order_compensate(order_id=order.id, reason="second")
    assert worker.run() == []
    assert (again.status, again.reason) == (Status.FAILED, "first")
    assert kinds(order).count("failed") == 1
    assert OutboxMessage.objects.filter(task_name="orders.send_order_email").count() == 1


@LIVE
def test_compensate_refunds_a_captured_payment_and_returns_sold_stock(services_url, catalogue, worker):
    """If the payment was already captured and the stock committed, compensation refunds
    the money and gives the sold units back."""
    order = placed_order_with_stock_and_payment()
    inventory_client.reservation_commit(order_id=order.id)
    payments_client.payment_capture(order_id=order.id)
    worker.clear()
    services.order_compensate(order_id=order.id, reason="confirmation failed")
    worker.run(skip=("orders.send_order_email",))
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.REFUNDED
    mouse = StockItem.objects.get(sku=MOUSE.sku)
    assert (mouse.available, mouse.sold) == (200, 0)
    assert "payment_refunded" in kinds(order)


@LIVE
def test_compensate_of_a_pending_order_with_nothing_done(services_url, catalogue, worker):
    """A pending order that reserved and paid nothing fails with no email (the customer was
    never told it was received); its payment is marked cancelled, so an authorisation
    still on its way is voided when it lands."""
    order = create()
    services.order_compensate(order_id=order.id, reason="checkout did not complete in time")
    assert "orders.send_order_email" not in worker.run()
    assert Order.objects.get(pk=order.pk).status == Status.FAILED
    assert kinds(order) == [
        "created",
        "failing",
        "undo_requested",
        "payment_cancelled",
        "stock_none",
        "failed",
    ]
    assert not OutboxMessage.objects.filter(task_name="orders.send_order_email").exists()
    assert Payment.objects.get(order_id=order.id).status == Payment.Status.CANCELLED


def failing(order: Order) -> Order:
    return force_status(order, Status.FAILING)


@pytest.mark.django_db
def test_one_report_leaves_the_order_failing():
    order = failing(create())
    services.order_record_undo(order_id=order.id, step="payment", outcome="voided")
    assert Order.objects.get(pk=order.pk).status == Status.FAILING
    assert kinds(order) == ["created", "payment_voided"]


@pytest.mark.django_db
def test_the_second_step_reported_fails_the_order():
    order = failing(create())
    services.order_record_undo(order_id=order.id, step="stock", outcome="released")
    failed = services.order_record_undo(order_id=order.id, step="payment", outcome="refunded")
    assert failed.status == Status.FAILED
    assert kinds(order) == ["created", "stock_released", "payment_refunded", "failed"]


@pytest.mark.django_db
def test_a_repeated_report_is_recorded_once():
    """A report delivered twice, or a step asked again by reconcile, counts once."""
    order = failing(create())
    for _ in range(2):
        services.order_record_undo(order_id=order.id, step="payment", outcome="voided")
    assert kinds(order) == ["created", "payment_voided"]
    services.order_record_undo(order_id=order.id, step="stock", outcome="released")
    services.order_record_undo(order_id=order.id, step="stock", outcome="released")
    assert kinds(order).count("failed") == 1


@pytest.mark.parametrize("status", [Status.PLACED, Status.CONFIRMED, Status.FAILED])
@pytest.mark.django_db
def test_a_report_for_an_order_not_failing_changes_nothing(status):
    order = force_status(create(), status)
    for step in ("payment", "stock"):
        assert services.order_record_undo(order_id=order.id, step=step, outcome="voided").status == status
    assert kinds(order) == ["created"]


@pytest.mark.django_db
def test_an_unknown_undo_step_is_refused():
    order = failing(create())
    with pytest.raises(ValueError):
        services.order_record_undo(order_id=order.id, step="shipping", outcome="cancelled")


# --- email -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_confirmation_email_is_sent_once(mailoutbox):
    """The confirmation email goes out once to the customer; a second delivery sends nothing."""
    order = force_status(create(), Status.CONFIRMED)
    Order.objects.filter(pk=order.pk).update(confirmation_code="TL-ABC")
    assert services.order_send_email(order_id=order.id, kind="confirmed") is True
    assert services.order_send_email(order_id=order.id, kind="confirmed") is False
    [mail] = mailoutbox
    assert mail.to == ["ada@example.com"]
    assert "TL-ABC" in mail.subject
    assert OrderEvent.objects.filter(order=order, kind="email_confirmed").count() == 1


@pytest.mark.django_db
def test_failure_email_is_sent_once_and_separately_from_the_confirmation(mailoutbox):
    """Each kind of email is sent at most once per order."""
    order = force_status(create(), Status.FAILED)
    assert services.order_send_email(order_id=order.id, kind="failed") is True
    assert services.order_send_email(order_id=order.id, kind="failed") is False
    [mail] = mailoutbox
    assert str(order.id)[:8] in mail.subject
    assert "voided or refunded" in mail.body
