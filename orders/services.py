"""Order writes: the order's state machine (pending → placed → confirmed, or pending |
placed → failing → failed), its event history, and the steps of the saga that belong to
orders. The worker's finalize asks payments' and inventory's workers for the capture and the
commit by task and confirms the order when both have reported done (it stays placed until
then); the worker's compensation asks them for the undo likewise and fails the order when
both have reported back; the checkout's own undo (inside its request) calls them over REST.

Every step is idempotent and moves the status only forward, with a conditional update,
so a task delivered twice or a REST call retried changes nothing the second time.
Network calls (inventory, payments) are made outside any database transaction, and the
workers' steps run while the order waits, so confirmation and compensation can interleave:
compensation claims the order (``failing``) before it undoes anything, and a step's report
confirms only a ``placed`` order, so exactly one of them wins; the undo refunds a capture
and releases committed stock, so the money and stock always agree with the order's status.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from smtplib import SMTPException

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from faults.checkpoints import checkpoint
from faults.database import guarded_update
from faults.services import fault_fires
from instrumentation import attributes, names
from instrumentation.context import (
    capture_context,
    current_span,
    current_trace_id,
    flush_before_kill,
    get_tracer,
    order_baggage,
)
from inventory import client as inventory_client
from orders.errors import IdempotencyKeyReused, OrderNotFound, OrderStateConflict
from orders.models import Order, OrderEvent, OrderLine
from orders.outbox import outbox_enqueue
from payments import client as payments_client

logger = logging.getLogger(__name__)
tracer = get_tracer(__name__)
Status = Order.Status


@dataclass(frozen=True)
class LineInput:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


def order_create(
    *,
    email: str,
    lines: list[LineInput],
    customer_tier: str = Order.CustomerTier.STANDARD.value,
    idempotency_key: str | None = None,
) -> Order:
    """Store a pending order. Durable first: from here on it can fail, never vanish.

    The order records the customer's tier as the caller gave it, and stores the trace
    context later work resumes (``orders.reconcile``) with the order's baggage in it: its
    tier and its id, known only now. The same idempotency key with the same basket returns
    the first order; with a different basket it is refused."""
    if idempotency_key:
        existing = Order.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _same_request(existing, email, lines)
    order = Order(
        email=email,
        customer_tier=customer_tier,
        total_cents=sum(line.quantity * line.unit_price_cents for line in lines),
        trace_id=current_trace_id(),
        idempotency_key=idempotency_key or None,
    )
    with order_baggage(tier=customer_tier, order_id=str(order.id)):
        order.trace_context = capture_context()
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            OrderLine.objects.bulk_create(OrderLine(order=order, **line.__dict__) for line in lines)
            _event(order, "created", f"{len(lines)} lines, {order.total_cents} cents")
    except IntegrityError:
        if not idempotency_key:
            raise
        return _same_request(Order.objects.get(idempotency_key=idempotency_key), email, lines)
    _annotate(order)
    return order


def _same_request(order: Order, email: str, lines: list[LineInput]) -> Order:
    stored = sorted((line.sku, line.quantity) for line in order.lines.all())
    if order.email != email or stored != sorted((line.sku, line.quantity) for line in lines):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different checkout; use a new key.",
            extra={"order_id": str(order.id)},
        )
    return order


def order_place(*, order_id: uuid.UUID) -> Order:
    """Mark the order placed and, in the same transaction, queue its finalisation."""
    with transaction.atomic():
        order = order_get(order_id=order_id)
        _annotate(order)
        if order.status in (Status.PLACED, Status.CONFIRMED):
            return order
        if not _transition(order, [Status.PENDING], Status.PLACED, fault="order_place_db_timeout"):
            raise OrderStateConflict(
                f"Order {order_id} is {order.status}; only a pending order can be placed."
            )
        _event(order, "placed", "stock reserved and payment authorised; confirming")
        outbox_enqueue(order=order, task_name=names.FINALIZE_ORDER_TASK, kwargs={"order_id": str(order.id)})
    return order


def order_finalize(*, order_id: uuid.UUID) -> Order:
    """The background half of the checkout: write the confirmation, then ask payments'
    worker to capture the payment and inventory's to commit the stock, by task through the
    outbox (durable with the event that records it). The order stays placed until both have
    reported (``order_record_step``). Raises on transient errors so the task retries.

    Asking again (a redelivered finalize, reconcile pushing on a placed order whose reports
    never came) asks both again: their steps are idempotent and report again."""
    order = order_get(order_id=order_id)
    _annotate(order)
    if order.status in Order.TERMINAL or order.status == Status.FAILING:
        return order  # a failing order is compensation's now: it undoes, never confirms
    if order.status != Status.PLACED:
        raise OrderStateConflict(f"Order {order_id} is {order.status}; only a placed order is finalised.")
    _write_confirmation(order)
    with transaction.atomic():
        _update(Order.objects.filter(pk=order.pk))  # restarts the deadline: reconcile waits for the reports
        _event(order, "steps_requested", "payments asked to capture the payment, inventory to commit")
        for message in (
            payments_client.payment_capture_task(order_id=order.id),
            inventory_client.reservation_commit_task(order_id=order.id),
        ):
            outbox_enqueue(order=order, task_name=message.name, kwargs=message.kwargs)
    # The steps are published (on commit); a worker dying here has its finalize delivered
    # again, which asks for them again: each runs twice and changes things once.
    checkpoint(
        "finalize.after_steps",
        on_crash=lambda: _finalize_crash(order),
        crashed_before=lambda: order.events.filter(kind="worker_crash_injected").exists(),
    )
    return order


def _finalize_crash(order: Order) -> None:
    """Before ``worker_crash`` kills finalize: record it in the order's history, and export
    the spans ended so far (the step publishes among them), as the steps' checkpoints do, so
    the stored trace shows the dead run by its orphans in orders-worker whatever the batch
    processor's timing (without the flush, only the steps' runs may arrive, orphaned in
    payments' and inventory's workers, and the diagnosis would blame them)."""
    _event(order, "worker_crash_injected", "the worker process is killed after the steps were asked for")
    flush_before_kill()


# The confirmation's steps, each reported by its owner's worker: the order is confirmed once
# both are done, and compensated if either failed for good.
CONFIRM_STEPS = ("capture", "commit")
STEP_OUTCOMES = ("done", "failed")


def order_record_step(
    *, order_id: uuid.UUID, step: str, outcome: str, detail: str = "", idempotency_key: str = ""
) -> Order:
    """A confirmation step reported (``capture`` or ``commit``, ``done`` or ``failed``):
    record its first report once (``capture_done``, ``commit_failed``, ...); confirm the order
    once both are done, or ask for its compensation when one failed, which voids or refunds
    the payment and releases the stock, whatever the other step did.

    The order's row is locked while the reports are counted, so two reports landing at once
    confirm it once. Only a placed order is moved: a report for an order compensation
    claimed meanwhile changes nothing (its undo refunds a capture, releases a commit)."""
    if step not in CONFIRM_STEPS or outcome not in STEP_OUTCOMES:
        raise ValueError(f"unknown step report {step!r} {outcome!r}")
    with transaction.atomic():
        order = order_get(order_id=order_id, for_update=True)
        _annotate(order)
        if order.status != Status.PLACED:
            return order
        if not order.events.filter(kind__in=[f"{step}_{o}" for o in STEP_OUTCOMES]).exists():
            _event(order, f"{step}_{outcome}", f"{detail} ({idempotency_key})" if idempotency_key else detail)
        reported = {e.kind for e in order.events.filter(kind__in=_STEP_EVENTS)}
        failed = sorted(kind for kind in reported if kind.endswith("_failed"))
        if failed:
            if not order.events.filter(kind=STEP_GAVE_UP).exists():
                _queue_compensation(order, STEP_GAVE_UP, f"{step} failed: {detail}")
        elif reported == {f"{s}_done" for s in CONFIRM_STEPS} and _transition(
            order, [Status.PLACED], Status.CONFIRMED
        ):
            code = order.confirmation_code
            _event(order, "confirmed", f"confirmation {code}; stock committed; payment captured")
            _queue_email(order, "confirmed")
    return order


_STEP_EVENTS = [f"{step}_{outcome}" for step in CONFIRM_STEPS for outcome in STEP_OUTCOMES]
# The event a step that failed for good leaves with the compensation it queued; as
# ``finalize_gave_up``, reconcile asks for the compensation again, never finalises again.
STEP_GAVE_UP = "step_gave_up"


def _write_confirmation(order: Order) -> None:
    """Save the order's confirmation: the write the ``order_db_timeout`` fault targets."""
    if order.confirmation_code:
        return
    code = f"TL-{order.id.hex[:10].upper()}"
    with transaction.atomic():
        rows = Order.objects.filter(pk=order.pk, confirmation_code="")
        # A duplicate delivery running at the same time wrote it first: its UPDATE
        # matched the row, ours matches none, and only the writer records the event.
        if _update(rows, fault="order_db_timeout", confirmation_code=code):
            _event(order, "confirmation_written", code)
    order.confirmation_code = code


def _update(rows: QuerySet[Order], *, fault: str | None = None, **fields: object) -> int:
    """UPDATE ``rows`` and restart their clock; ``fault`` names the database fault that
    may make this write time out (the seam in faults.database)."""
    fields.setdefault("updated_at", timezone.now())
    return guarded_update(rows, fault=fault, **fields)


def order_push_on(*, order_id: uuid.UUID) -> Order:
    """An order waited past its deadline: queue the step that ends it (finalise a placed
    order again, which asks again for a capture or commit that never reported; compensate a
    pending one, or a placed one a step failed for; compensate again a failing one whose
    undo stopped half-way) and restart its clock, counting the push (``Order.pushes``: the
    next waits twice as long). Called by ``orders.reconcile``."""
    with transaction.atomic():
        order = order_get(order_id=order_id)
        _annotate(order)
        current_span().set_attribute(attributes.ORDER_PUSHES, order.pushes + 1)
        gave_up = order.events.filter(kind__in=["finalize_gave_up", STEP_GAVE_UP]).first()
        if gave_up is not None:  # compensation was asked for: ask again, never finalise
            order_request_compensation(order_id=order.id, reason=gave_up.message)
        elif order.status == Status.FAILING:  # e.g. the shop's fail call lost an app midway
            _queue_compensation(order, "reconcile_compensate", order.reason)
        elif order.status == Status.PLACED:
            _update(Order.objects.filter(pk=order.pk))  # restarts the deadline
            _event(order, "reconcile_finalize", "not confirmed in time; finalisation queued again")
            outbox_enqueue(
                order=order, task_name=names.FINALIZE_ORDER_TASK, kwargs={"order_id": str(order.id)}
            )
        elif order.status == Status.PENDING:
            order_request_compensation(order_id=order.id, reason="checkout did not complete in time")
        Order.objects.filter(pk=order.pk).update(pushes=order.pushes + 1)
    return order


def order_request_compensation(*, order_id: uuid.UUID, reason: str) -> Order:
    """Finalisation gave up: durably queue the compensation that undoes the order."""
    with transaction.atomic():
        order = order_get(order_id=order_id)
        if order.status in Order.TERMINAL:
            return order
        _queue_compensation(order, "finalize_gave_up", reason)
    return order


def _queue_compensation(order: Order, kind: str, reason: str) -> None:
    """Inside a transaction: record why and queue ``orders.compensate_order``."""
    _update(Order.objects.filter(pk=order.pk))  # restarts the deadline: reconcile waits
    _event(order, kind, reason)
    outbox_enqueue(
        order=order,
        task_name=names.COMPENSATE_ORDER_TASK,
        kwargs={"order_id": str(order.id), "reason": reason},
    )


def order_fail_checkout(*, order_id: uuid.UUID, reason: str) -> Order:
    """Fail an order whose checkout did not complete, undoing what it did. An order that
    was placed is left alone: the customer was (or is being) told it was received. The
    claim is taken from pending only, so a place committing meanwhile wins cleanly."""
    return _compensate(order_id, reason, claim_from=[Status.PENDING])


def order_compensate(*, order_id: uuid.UUID, reason: str) -> Order:
    """The worker's compensation: claim the order (failing), then ask payments' and
    inventory's workers, by task through the outbox (durable with the request), to void or
    refund the payment and to release the stock. Each reports back (``order_record_undo``)
    and the order fails once both have.

    Safe to repeat: a failing order asks both again (their steps are idempotent and a
    repeated report changes nothing), which is how reconcile pushes on an order whose report
    never came; a failed order is left alone; a confirmed one is refused before anything is
    undone."""
    order = _claim_for_compensation(order_id, reason, [Status.PENDING, Status.PLACED])
    if order.status == Status.FAILED:
        return order
    # A crash between the claim and this transaction leaves the order failing with nothing
    # asked: reconcile finds it past its deadline and compensates again.
    with transaction.atomic():
        _update(Order.objects.filter(pk=order.pk))  # restarts the deadline: reconcile waits for the reports
        _event(order, "undo_requested", "payments asked to void or refund, inventory to release the stock")
        for message in (
            payments_client.payment_cancel_task(order_id=order.id),
            inventory_client.reservation_release_task(order_id=order.id),
        ):
            outbox_enqueue(order=order, task_name=message.name, kwargs=message.kwargs)
    return order


# The compensation's undo steps, each reported once by its owner's worker.
UNDO_STEPS = ("payment", "stock")


def order_record_undo(*, order_id: uuid.UUID, step: str, outcome: str, idempotency_key: str = "") -> Order:
    """An undo step reported what it left (``payment`` voided, refunded, ...; ``stock``
    released, ...): record it once, and fail the order once both steps have reported.

    The order's row is locked while the reports are counted, so two reports landing at once
    fail it once. A report for an order that is not failing (a repeated report of a failed
    order) changes nothing."""
    if step not in UNDO_STEPS:
        raise ValueError(f"unknown undo step {step!r}")
    with transaction.atomic():
        order = order_get(order_id=order_id, for_update=True)
        _annotate(order)
        if order.status != Status.FAILING:
            return order
        if not order.events.filter(kind__startswith=f"{step}_").exists():
            _event(order, f"{step}_{outcome}", f"{_UNDONE[step]} is {outcome} ({idempotency_key})")
        reported = {s for s in UNDO_STEPS if order.events.filter(kind__startswith=f"{s}_").exists()}
        if reported == set(UNDO_STEPS) and _transition(order, [Status.FAILING], Status.FAILED):
            _failed(order)
    return order


_UNDONE = {"payment": "payment", "stock": "reservation"}


def _failed(order: Order) -> None:
    """Inside the transaction that moved the order to failed: record it, and tell a customer
    who was told "received" the truth."""
    _event(order, "failed", order.reason)
    # Placed means they were told "received"; now they are told the truth.
    if order.events.filter(kind="placed").exists():
        _queue_email(order, "failed")
    logger.warning("order %s failed: %s", order.id, order.reason)


def _compensate(order_id: uuid.UUID, reason: str, *, claim_from: list[str]) -> Order:
    """The checkout's own undo, inside its request (REST, answered now): claim the order
    (failing), undo payment and stock, then fail it, once."""
    order = _claim_for_compensation(order_id, reason, claim_from)
    if order.status == Status.FAILED:
        return order
    payment = payments_client.payment_cancel(order_id=order.id)
    reservation = inventory_client.reservation_release(order_id=order.id)
    with transaction.atomic():
        if _transition(order, [Status.FAILING], Status.FAILED):
            _event(order, "payment_" + payment.status, f"payment is {payment.status}")
            _event(order, "stock_" + reservation.status, f"reservation is {reservation.status}")
            _failed(order)
    return order_get(order_id=order_id)


def _claim_for_compensation(order_id: uuid.UUID, reason: str, sources: list[str]) -> Order:
    """Move the order to failing before anything is undone, with a conditional update:
    from then on finalisation cannot confirm it. An order already failing (a retried or
    concurrent compensation) or failed is returned as it is, keeping the first reason;
    one confirmed, or placed when only pending may be claimed, is refused untouched."""
    order = order_get(order_id=order_id)
    _annotate(order)
    with transaction.atomic():
        if _transition(order, sources, Status.FAILING, reason=reason):
            _event(order, "failing", f"undoing payment and stock: {reason}")
            return order
    order.refresh_from_db()
    if order.status not in (Status.FAILING, Status.FAILED):
        raise OrderStateConflict(
            f"Order {order_id} is {order.status}; it cannot be failed.", extra={"status": order.status}
        )
    return order


EMAILS = {
    "confirmed": ("Your order {code} is confirmed", "Thank you! Order {id} is confirmed and on its way."),
    "failed": (
        "Your order {id_short} could not be completed",
        "We are sorry: order {id} could not be completed. Any payment was voided or refunded.",
    ),
}


def order_send_email(*, order_id: uuid.UUID, kind: str) -> bool:
    """Send the confirmation or failure email once; False if it was already sent.

    The email's event is claimed in a short transaction and the mail is sent outside it
    (no lock held over the mail server); a refused mail gives the claim back."""
    with transaction.atomic():
        order = order_get(order_id=order_id, for_update=True)
        if order.events.filter(kind=f"email_{kind}").exists():
            return False
        claim = _event(order, f"email_{kind}", f"sent to the customer ({kind})")
    try:
        if fault_fires("email_failure"):
            raise SMTPException("the mail server refused the message (injected fault)")
        subject, body = EMAILS[kind]
        values = {"code": order.confirmation_code, "id": order.id, "id_short": str(order.id)[:8]}
        send_mail(subject.format(**values), body.format(**values), settings.DEFAULT_FROM_EMAIL, [order.email])
    except Exception:
        claim.delete()
        raise
    return True


def _queue_email(order: Order, kind: str) -> None:
    """Inside the transaction that calls for it: the ``kind`` email, durably queued."""
    outbox_enqueue(
        order=order, task_name=names.SEND_ORDER_EMAIL_TASK, kwargs={"order_id": str(order.id), "kind": kind}
    )


def order_email_due_again(*, order: Order, kind: str) -> bool:
    """Whether the ``kind`` email, owed and not on record, should be queued again now.

    Not while a message for it waits in the outbox (the relay publishes it) or was queued
    or published less than ``ORDERS_EMAIL_RESEND_AFTER`` ago (its task may still be
    retrying), and not after ``ORDERS_EMAIL_MAX_SENDS`` messages: a mail server that
    refuses every one of them is an incident for people, not a loop."""
    if order.events.filter(kind=f"email_{kind}").exists():
        return False
    queued = [
        message
        for message in order.outbox.filter(task_name=names.SEND_ORDER_EMAIL_TASK).order_by("created_at")
        if message.kwargs.get("kind") == kind
    ]
    recent = timezone.now() - timedelta(seconds=settings.ORDERS_EMAIL_RESEND_AFTER)
    if any(m.delivered_at is None for m in queued):
        return False
    if queued and max(m.delivered_at or m.created_at for m in queued) > recent:
        return False
    return len(queued) < settings.ORDERS_EMAIL_MAX_SENDS


def order_resend_email(*, order_id: uuid.UUID, kind: str) -> bool:
    """Queue the ``kind`` email again for an ended order (``order_email_due_again``, checked
    again under the order's lock); False when it is not due. Called by ``orders.reconcile``.
    Sending is idempotent (the email's event is claimed once), so a lost task that turns
    up after all sends nothing twice."""
    with transaction.atomic():
        order = order_get(order_id=order_id, for_update=True)
        if not order_email_due_again(order=order, kind=kind):
            return False
        _event(order, "reconcile_email", f"the {kind} email was not sent in time; queued again")
        _queue_email(order, kind)
    logger.warning("order %s: its %s email was not sent in time; queued again", order.id, kind)
    return True


def order_get(*, order_id: uuid.UUID, for_update: bool = False) -> Order:
    """The order, or ``OrderNotFound``; ``for_update`` locks its row (inside a transaction)."""
    orders = Order.objects.select_for_update() if for_update else Order.objects
    try:
        return orders.get(pk=order_id)
    except (Order.DoesNotExist, ValueError, ValidationError):  # a malformed id is not found either
        raise OrderNotFound(f"No order {order_id}.") from None


def _transition(
    order: Order, sources: list[str], target: str, *, fault: str | None = None, **fields: object
) -> bool:
    """Move the status forward only from ``sources``; False if another step got there first.
    A new status starts reconcile's deadline afresh (``pushes`` back to 0)."""
    fields.setdefault("pushes", 0)
    moved = _update(
        Order.objects.filter(pk=order.pk, status__in=sources), fault=fault, status=target, **fields
    )
    if moved:
        order.status = target
        for name, value in fields.items():
            setattr(order, name, value)
    return bool(moved)


def _event(order: Order, kind: str, message: str = "") -> OrderEvent:
    return OrderEvent.objects.create(order=order, kind=kind, message=message, trace_id=current_trace_id())


def _annotate(order: Order) -> None:
    span = current_span()
    span.set_attribute(attributes.ORDER_ID, str(order.id))
    span.set_attribute(attributes.ORDER_TOTAL_CENTS, order.total_cents)
