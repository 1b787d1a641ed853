"""Payments' client against payments' real REST API (a live server): a decline comes back
as PaymentDeclined (402 on the wire), conflicts and missing payments as their own classes."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.conf import settings

from payments import client
from payments.errors import PaymentDeclined, PaymentNotFound, PaymentStateConflict
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_authorize_returns_the_authorized_payment(services_url):
    """An approved card answers a frozen PaymentInfo with status authorized."""
    order_id = uuid.uuid4()
    info = client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")
    assert info == client.PaymentInfo(order_id=str(order_id), amount_cents=2999, status="authorized")


def test_authorize_repeated_returns_the_same_payment(services_url):
    """A retried authorisation answers the first payment and writes no second row."""
    order_id = uuid.uuid4()
    first = client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")
    assert client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok") == first
    assert Payment.objects.count() == 1


def test_decline_is_402_payment_declined_and_raises_payment_declined(services_url):
    """The API answers a declined card with 402 payment_declined; the client raises PaymentDeclined."""
    order_id = uuid.uuid4()
    with pytest.raises(PaymentDeclined) as declined:
        client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_decline")
    assert declined.value.extra == {"reason": "card_declined"}

    response = requests.post(
        f"{services_url}/api/payments/authorizations/",
        json={"order_id": str(order_id), "amount_cents": 2999, "token": "tok_decline"},
        headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 402
    assert response.json()["code"] == "payment_declined"


def test_a_different_amount_for_the_same_order_raises_conflict(services_url):
    """409 payment_state_conflict round-trips as PaymentStateConflict."""
    order_id = uuid.uuid4()
    client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")
    with pytest.raises(PaymentStateConflict):
        client.payment_authorize(order_id=order_id, amount_cents=3000, token="tok_ok")


def test_payment_decline_fault_is_seen_by_the_api(services_url, faults):
    """The payment_decline fault set in this process declines authorisations made over REST."""
    faults({"payment_decline": 1.0})
    with pytest.raises(PaymentDeclined):
        client.payment_authorize(order_id=uuid.uuid4(), amount_cents=2999, token="tok_ok")


def test_capture_is_idempotent(services_url):
    """Capture answers captured, and again captured on a retry."""
    order_id = uuid.uuid4()
    client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")
    assert client.payment_capture(order_id=order_id).status == "captured"
    assert client.payment_capture(order_id=order_id).status == "captured"


def test_capture_without_a_payment_raises_payment_not_found(services_url):
    """404 payment_not_found round-trips as PaymentNotFound."""
    with pytest.raises(PaymentNotFound):
        client.payment_capture(order_id=uuid.uuid4())


def test_cancel_voids_an_authorisation_and_refunds_a_capture(services_url):
    """Cancel answers voided for an authorisation and refunded for a capture."""
    authorised, captured = uuid.uuid4(), uuid.uuid4()
    client.payment_authorize(order_id=authorised, amount_cents=2999, token="tok_ok")
    client.payment_authorize(order_id=captured, amount_cents=2999, token="tok_ok")
    client.payment_capture(order_id=captured)
    assert client.payment_cancel(order_id=authorised).status == "voided"
    assert client.payment_cancel(order_id=captured).status == "refunded"
    assert client.payment_cancel(order_id=captured).status == "refunded"


def test_cancel_without_a_payment_answers_none(services_url):
    """Cancelling an order that never paid answers status "none" for no amount."""
    order_id = uuid.uuid4()
    assert client.payment_cancel(order_id=order_id) == client.PaymentInfo(str(order_id), 0, "none")
