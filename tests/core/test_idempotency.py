"""The Idempotency-Key mechanism, through the public checkout on a live server: a keyed
request runs once and its answer (success or refusal) is replayed; another body under the
key is refused with no side effect; a key whose request still runs is 409, one whose
request was abandoned is taken over; a server-side failure is not stored. And what the
bookkeeping costs a keyed call in statements."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import requests
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from core.idempotency import IdempotencyKeyReused, replay_or_run, request_fingerprint
from inventory.models import StockItem
from orders.models import Order
from payments.models import Payment
from shop.demo import CATALOGUE
from shop.models import IdempotentRequest
from shop.services import scoped_key

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

PATH = "/api/shop/checkout/"
KEY = "checkout-7f3a"
GOOD = {
    "items": [{"sku": "MOUSE-WIRELESS", "quantity": 2}],
    "email": "ada@example.com",
    "payment": {"method": "card", "token": "tok_ok"},
}
STORED = scoped_key("ada@example.com", KEY)  # the checkout stores the key scoped to its customer
DECLINED = {**GOOD, "payment": {"method": "card", "token": "tok_decline"}}
STOCK = {sku: units for sku, _, _, _, units in CATALOGUE}


def checkout(base: str, body: dict, key: str = KEY) -> requests.Response:
    return requests.post(f"{base}{PATH}", json=body, headers={"Idempotency-Key": key}, timeout=10)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def held_row(created_ago: timedelta = timedelta(0)) -> IdempotentRequest:
    """The row a first request holds while it runs (it began ``created_ago``)."""
    row = IdempotentRequest.objects.create(key=STORED, fingerprint=request_fingerprint("POST", PATH, GOOD))
    IdempotentRequest.objects.filter(pk=row.pk).update(created_at=timezone.now() - created_ago)
    return row


def test_a_repeated_checkout_replays_the_stored_answer(services_url, catalogue):
    """The same key and body answer the first 202 again, byte for byte, marked
    Idempotent-Replayed; one order is placed."""
    first = checkout(services_url, GOOD)
    again = checkout(services_url, GOOD)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.content == first.content
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_a_repeated_refusal_replays_the_stored_error(services_url, catalogue):
    """A declined checkout retried with its key answers the same 402 payment_declined, not
    a 202 for the failed order."""
    first = checkout(services_url, DECLINED)
    again = checkout(services_url, DECLINED)
    assert (first.status_code, again.status_code) == (402, 402)
    assert again.json()["code"] == "payment_declined"
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.get().status == Order.Status.FAILED


def test_the_same_key_with_another_body_is_422_with_no_side_effect(services_url, catalogue):
    """Another basket under a used key is refused 422 idempotency_key_reused before anything
    runs: no second order, payment or reservation; the first answer is still replayed."""
    first = checkout(services_url, GOOD)
    other = {**GOOD, "items": [{"sku": "KEYBOARD-MECH", "quantity": 1}]}
    refused = checkout(services_url, other)
    assert refused.status_code == 422
    assert refused.json()["code"] == "idempotency_key_reused"
    assert (Order.objects.count(), Payment.objects.count()) == (1, 1)
    assert StockItem.objects.get(sku="KEYBOARD-MECH").available == STOCK["KEYBOARD-MECH"]
    assert checkout(services_url, GOOD).content == first.content


def test_a_key_whose_request_still_runs_is_409(services_url, catalogue):
    """While the first request holds the key, a repeat is refused 409
    idempotency_request_in_progress and writes nothing."""
    held_row()
    response = checkout(services_url, GOOD)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_request_in_progress"
    assert not Order.objects.exists() and not Payment.objects.exists()


def test_an_abandoned_request_is_taken_over(services_url, catalogue, settings):
    """A key held longer than IDEMPOTENCY_LOCK_SECONDS (its process died) is taken over by
    the same request, which runs and stores its answer."""
    held_row(created_ago=timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS + 1))
    response = checkout(services_url, GOOD)
    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response.headers
    row = IdempotentRequest.objects.get(key=STORED)
    assert (row.state, row.status_code) == (IdempotentRequest.State.DONE, 202)


def test_an_abandoned_key_is_not_taken_over_by_another_body(services_url, catalogue, settings):
    """Another body stays refused 422 even when the key's first request was abandoned."""
    held_row(created_ago=timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS + 1))
    response = checkout(services_url, {**GOOD, "items": [{"sku": "MOUSE-WIRELESS", "quantity": 1}]})
    assert response.status_code == 422
    assert not Order.objects.exists()


def test_a_server_side_failure_is_not_stored(services_url, catalogue, settings):
    """A 503 (orders unreachable) releases the key: the retry runs the checkout afresh."""
    settings.ORDERS_BASE_URL = closed_port_url()
    failed = checkout(services_url, GOOD)
    assert failed.status_code == 503
    assert not IdempotentRequest.objects.filter(key=STORED).exists()
    settings.ORDERS_BASE_URL = services_url
    retried = checkout(services_url, GOOD)
    assert retried.status_code == 202 and retried.json()["status"] == "placed"
    assert "Idempotent-Replayed" not in retried.headers


def _keyed_request(key: str = KEY) -> Request:
    wsgi_request = APIRequestFactory().post(PATH, GOOD, format="json", HTTP_IDEMPOTENCY_KEY=key)
    return Request(wsgi_request, parsers=[JSONParser()])


def test_a_keyed_call_costs_two_statements():
    """A keyed request outside any transaction (as a request runs) claims its key with one
    INSERT and stores its answer with one UPDATE: no BEGIN/COMMIT around the INSERT (on
    SQLite that BEGIN is a statement of its own; on PostgreSQL two more round trips)."""
    database = connections[router.db_for_write(IdempotentRequest)]
    with CaptureQueriesContext(database) as queries:
        replay_or_run(IdempotentRequest, _keyed_request(), lambda: Response({"ok": True}, status=201))
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT", "UPDATE"]
    assert IdempotentRequest.objects.get(key=KEY).status_code == 201


def test_a_held_key_inside_a_transaction_leaves_that_transaction_usable():
    """Called inside a caller's transaction, the duplicate key's IntegrityError is kept to a
    savepoint: the refusal comes, and the caller's transaction can go on."""
    with transaction.atomic():
        IdempotentRequest.objects.create(key=KEY, fingerprint="another body")
        with pytest.raises(IdempotencyKeyReused):
            replay_or_run(IdempotentRequest, _keyed_request(), lambda: Response({}, status=201))
        assert IdempotentRequest.objects.filter(key=KEY).count() == 1
