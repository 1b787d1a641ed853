"""Payments' client against payments' real REST API (a live server): a decline comes back
as PaymentDeclined (402 on the wire), conflicts and missing payments as their own classes,
and a call repeated under its Idempotency-Key is replayed, or refused if its body differs."""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings
from django.db import connections

from core.api import ServiceUnavailable
from core.idempotency import IdempotencyKeyReused, request_fingerprint
from payments import client, gateway
from payments.errors import PaymentDeclined, PaymentNotFound, PaymentStateConflict
from payments.models import IdempotentRequest, Payment

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


def test_capturing_a_voided_payment_raises_conflict(services_url):
    """409 payment_state_conflict round-trips as PaymentStateConflict."""
    order_id = uuid.uuid4()
    client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")
    client.payment_cancel(order_id=order_id)
    with pytest.raises(PaymentStateConflict):
        client.payment_capture(order_id=order_id)


def authorize_over_http(base: str, order_id: uuid.UUID, amount_cents: int = 2999) -> requests.Response:
    """The internal authorize call as payments' client makes it: Idempotency-Key = the order id."""
    return requests.post(
        f"{base}/api/payments/authorizations/",
        json={"order_id": str(order_id), "amount_cents": amount_cents, "token": "tok_ok"},
        headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}", "Idempotency-Key": str(order_id)},
        timeout=5,
    )


def test_authorize_retried_with_its_key_replays_the_stored_answer(services_url):
    """The same authorize call with the same key answers the stored 201 body again, marked
    Idempotent-Replayed, and writes no second payment."""
    order_id = uuid.uuid4()
    first = authorize_over_http(services_url, order_id)
    again = authorize_over_http(services_url, order_id)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert Payment.objects.count() == 1


def test_a_different_amount_with_the_same_key_is_422_and_changes_nothing(services_url):
    """Another amount under the same key is refused 422 idempotency_key_reused (the client
    raises IdempotencyKeyReused); the payment keeps its first amount."""
    order_id = uuid.uuid4()
    authorize_over_http(services_url, order_id, amount_cents=2999)
    response = authorize_over_http(services_url, order_id, amount_cents=3000)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    with pytest.raises(IdempotencyKeyReused):
        client.payment_authorize(order_id=order_id, amount_cents=3000, token="tok_ok")
    assert Payment.objects.get().amount_cents == 2999


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


def test_cancel_without_a_payment_answers_cancelled(services_url):
    """Cancelling an order that never paid answers status "cancelled" for no amount, and
    an authorisation for it afterwards is refused as a conflict."""
    order_id = uuid.uuid4()
    assert client.payment_cancel(order_id=order_id) == client.PaymentInfo(str(order_id), 0, "cancelled")
    with pytest.raises(PaymentStateConflict):
        client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok")


def test_authorisations_and_cancels_sent_at_once_never_leave_money_authorised(services_url, monkeypatch):
    """For each of 8 orders an authorisation (slowed at the gateway by 0-60 ms) and a
    cancel arrive at the same moment, as when the shop gave up waiting: whichever the
    database sees first, no payment stays authorised; each ends voided, or cancelled
    with its authorisation refused."""
    orders = [uuid.uuid4() for _ in range(8)]
    real = gateway.authorize

    def slow_authorize(**kw):
        time.sleep(random.random() * 0.06)
        return real(**kw)

    monkeypatch.setattr(gateway, "authorize", slow_authorize)
    start = threading.Barrier(2 * len(orders))

    def send(call: tuple[str, uuid.UUID]) -> str:
        kind, order_id = call
        start.wait(timeout=10)
        try:
            if kind == "cancel":
                return client.payment_cancel(order_id=order_id).status
            return client.payment_authorize(order_id=order_id, amount_cents=2999, token="tok_ok").status
        except PaymentStateConflict:
            return "refused"
        finally:
            connections.close_all()  # the client read the fault flags in this thread

    calls = [(kind, order_id) for order_id in orders for kind in ("authorize", "cancel")]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(send, calls))

    statuses = dict(Payment.objects.values_list("order_id", "status"))
    assert set(statuses) == set(orders)
    assert set(statuses.values()) <= {"voided", "cancelled"}, statuses
    assert set(answers) <= {"authorized", "refused", "voided", "cancelled"}, answers


def test_payment_summary_of_this_runs_orders_adds_up_batches(services_url):
    """payment_summary asks for many order ids in batches (URLs stay short) and adds them up;
    payments of other orders are left out."""
    mine = [uuid.uuid4() for _ in range(client.SUMMARY_ORDER_IDS_PER_CALL + 3)]
    for order_id in mine:
        client.payment_authorize(order_id=order_id, amount_cents=100, token="tok_ok")
    client.payment_capture(order_id=mine[0])
    client.payment_authorize(order_id=uuid.uuid4(), amount_cents=5000, token="tok_ok")  # someone else's

    summary = client.payment_summary(order_ids=list(mine))  # a list[UUID | str], as the client asks

    assert summary.authorized == client.PaymentTotal(count=len(mine) - 1, amount_cents=100 * (len(mine) - 1))
    assert summary.captured == client.PaymentTotal(count=1, amount_cents=100)
    assert (
        summary.declined
        == summary.voided
        == summary.refunded
        == summary.cancelled
        == client.PaymentTotal(0, 0)
    )
    assert client.payment_summary().authorized.count == len(mine)  # without a filter: everyone's


def test_payment_summary_is_internal(services_url):
    """Without the service token the summary answers 403 in the error shape."""
    response = requests.get(f"{services_url}/api/payments/summary/", timeout=5)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_a_call_whose_key_is_still_running_raises_service_unavailable(services_url):
    """409 idempotency_request_in_progress (the same capture still runs) is retryable: the
    client raises ServiceUnavailable, not a refusal that would send the order to compensation."""
    order_id = uuid.uuid4()
    path = f"/api/payments/payments/{order_id}/capture/"
    IdempotentRequest.objects.create(
        key=f"capture-{order_id}", fingerprint=request_fingerprint("POST", path, {})
    )
    with pytest.raises(ServiceUnavailable):
        client.payment_capture(order_id=order_id)
