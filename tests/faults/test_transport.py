"""The transport seam: with ``payments_unreachable`` on, the checkout's calls to payments
(over the real payments API on a live server) fail as a refused connection, the
ServiceUnavailable that callers retry, and nothing reaches payments; reads of payments
and calls to other apps go through; at zero nothing changes."""

from __future__ import annotations

import uuid

import pytest
import requests
from opentelemetry.trace import SpanKind, StatusCode

from core.api import ServiceUnavailable
from instrumentation import attributes
from inventory import client as inventory_client
from payments import client as payments_client
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def authorize(order_id: uuid.UUID | None = None) -> payments_client.PaymentInfo:
    return payments_client.payment_authorize(
        order_id=order_id or uuid.uuid4(), amount_cents=500, token="tok_ok"
    )


def test_a_checkout_call_is_refused_like_a_dead_service(services_url, faults, settings, spans):
    """The call goes to FAULTS_REFUSING_URL: the caller gets ServiceUnavailable from the
    refused connection's ConnectionError, and payments never saw it."""
    faults({"payments_unreachable": 1.0})
    with pytest.raises(ServiceUnavailable) as unavailable:
        authorize()
    refused = unavailable.value.__cause__
    assert isinstance(refused, requests.ConnectionError) and "Connection refused" in str(refused)
    assert f"port={settings.FAULTS_REFUSING_URL.rsplit(':', 1)[1]}" in str(refused)
    assert Payment.objects.count() == 0
    [call] = [span for span in spans.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert call.status.status_code == StatusCode.ERROR
    assert call.attributes[attributes.FAULT_NAME] == "payments_unreachable"


@pytest.mark.parametrize("step", ["capture", "cancel"])
def test_every_checkout_call_is_refused(services_url, faults, step):
    """Capture and cancel are refused too, not only the authorisation."""
    order_id = uuid.uuid4()
    authorize(order_id)
    faults({"payments_unreachable": 1.0})
    with pytest.raises(ServiceUnavailable):
        getattr(payments_client, f"payment_{step}")(order_id=order_id)
    assert Payment.objects.get(order_id=order_id).status == Payment.Status.AUTHORIZED


def test_an_observers_read_and_other_apps_go_through(services_url, catalogue, faults):
    """The summary (a read) and calls to inventory are not refused: the fault is for the
    checkout's calls to payments and must not blind an observer."""
    authorize()
    faults({"payments_unreachable": 1.0})
    assert payments_client.payment_summary().authorized.count == 1
    assert inventory_client.stock_list()


def test_at_zero_checkout_calls_reach_payments(services_url, faults):
    """payments_unreachable=0: the authorisation is made as usual."""
    faults({"payments_unreachable": 0.0})
    assert authorize().status == "authorized"
