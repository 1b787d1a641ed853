"""Payments' worker task: the compensation's money step, run from payments' queue, reported
back to orders by task; a database error is retried."""

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
