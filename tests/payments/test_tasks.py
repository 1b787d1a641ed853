"""Payments' worker tasks: the confirmation's capture and the compensation's money step, run
from payments' queue, reported back to orders by task; a database error is retried."""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError

from payments import services, tasks
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)


def authorised() -> Payment:
    order_id = uuid.uuid4()
    return services.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")


def test_cancel_voids_and_reports_the_outcome_to_orders(worker):
    payment = authorised()
    key = f"cancel-{payment.order_id}"
    tasks.cancel_payment.apply(kwargs={"order_id": str(payment.order_id), "idempotency_key": key})
    payment.refresh_from_db()
    assert payment.status == Payment.Status.VOIDED
    assert worker.queued == [
        (
            "orders.record_undo",
            {
                "order_id": str(payment.order_id),
                "step": "payment",
                "outcome": "voided",
                "idempotency_key": key,
            },
        )
    ]


def test_cancel_delivered_twice_voids_once_and_reports_the_same(worker):
    payment = authorised()
    for _ in range(2):
        tasks.cancel_payment.apply(kwargs={"order_id": str(payment.order_id), "idempotency_key": "k"})
    assert [kwargs["outcome"] for _, kwargs in worker.queued] == ["voided", "voided"]


def test_cancel_of_an_order_never_paid_reports_cancelled(worker):
    order_id = uuid.uuid4()
    tasks.cancel_payment.apply(kwargs={"order_id": str(order_id), "idempotency_key": "k"})
    assert Payment.objects.get(order_id=order_id).status == Payment.Status.CANCELLED
    assert worker.queued[0][1]["outcome"] == "cancelled"


def test_a_database_error_is_retried_and_nothing_is_reported_until_it_succeeds(worker, monkeypatch):
    payment = authorised()
    real_cancel, calls = services.payment_cancel, []

    def locked_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real_cancel(**kwargs)

    monkeypatch.setattr(services, "payment_cancel", locked_once)
    tasks.cancel_payment.apply(kwargs={"order_id": str(payment.order_id), "idempotency_key": "k"})
    assert len(calls) == 2  # an eager retry runs at once
    assert [kwargs["outcome"] for _, kwargs in worker.queued] == ["voided"]


def capture(payment_order_id: uuid.UUID) -> None:
    key = f"capture-{payment_order_id}"
    tasks.capture_payment.apply(kwargs={"order_id": str(payment_order_id), "idempotency_key": key})


def test_capture_captures_and_reports_done_to_orders(worker):
    payment = authorised()
    capture(payment.order_id)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CAPTURED
    assert worker.queued == [
        (
            "orders.record_step",
            {
                "order_id": str(payment.order_id),
                "step": "capture",
                "outcome": "done",
                "detail": "payment captured",
                "idempotency_key": f"capture-{payment.order_id}",
            },
        )
    ]


def test_capture_delivered_twice_captures_once_and_reports_done_again(worker):
    payment = authorised()
    capture(payment.order_id)
    capture(payment.order_id)
    assert [kwargs["outcome"] for _, kwargs in worker.queued] == ["done", "done"]
    assert Payment.objects.get(order_id=payment.order_id).status == Payment.Status.CAPTURED


def test_capture_of_a_voided_payment_reports_failed_without_retrying(worker):
    """The compensation voided it first: the capture is refused for good, reported failed."""
    payment = authorised()
    services.payment_cancel(order_id=payment.order_id)
    capture(payment.order_id)
    [(_, report)] = worker.queued
    assert report["outcome"] == "failed"
    assert report["detail"].startswith("capture refused: payment_state_conflict: ")
    assert Payment.objects.get(order_id=payment.order_id).status == Payment.Status.VOIDED


def test_capture_the_database_keeps_refusing_is_retried_then_reported_failed(worker, monkeypatch):
    payment = authorised()
    calls = []

    def locked(**kwargs):
        calls.append(kwargs)
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "payment_capture", locked)
    capture(payment.order_id)
    assert len(calls) == tasks.CAPTURE_MAX_RETRIES + 1
    [(_, report)] = worker.queued
    assert report["outcome"] == "failed"
    assert report["detail"].startswith(f"capture gave up after {len(calls)} attempts: OperationalError")
