"""The card gateway simulator's span: each call is a span of its own that names the
gateway, the operation, the outcome, the transaction id and the latency; a decline is an
error status with its reason, and the latency fault shows on the span it slowed."""

from __future__ import annotations

import pytest

from instrumentation import attributes
from payments import gateway

pytestmark = pytest.mark.django_db


def only_span(spans):
    [span] = spans.get_finished_spans()
    return span


def test_an_approved_authorisation_is_a_span_with_its_transaction_id(spans):
    answer = gateway.authorize(token="tok_ok", amount_cents=1500, idempotency_key="order-1")
    span = only_span(spans)
    assert span.name == "gateway authorize"
    assert span.attributes[attributes.GATEWAY_NAME] == gateway.GATEWAY
    assert span.attributes[attributes.GATEWAY_OPERATION] == "authorize"
    assert span.attributes[attributes.GATEWAY_OUTCOME] == "approved"
    assert span.attributes[attributes.GATEWAY_TRANSACTION_ID] == answer.reference
    assert span.attributes[attributes.GATEWAY_LATENCY_MS] >= 0
    assert span.status.status_code.name == "UNSET"


def test_a_decline_is_an_error_span_with_the_reason(spans):
    gateway.authorize(token="tok_decline", amount_cents=1500, idempotency_key="order-2")
    span = only_span(spans)
    assert span.attributes[attributes.GATEWAY_OUTCOME] == "declined"
    assert span.status.status_code.name == "ERROR"
    assert "card_declined" in span.status.description
    assert attributes.GATEWAY_TRANSACTION_ID not in span.attributes


def test_the_injected_decline_names_its_fault_on_the_gateway_span(spans, faults):
    faults({"payment_decline": 1.0})
    gateway.authorize(token="tok_ok", amount_cents=1500, idempotency_key="order-3")
    span = only_span(spans)
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[attributes.FAULT_NAME] == "payment_decline"


@pytest.mark.parametrize("operation", ["capture", "void", "refund"])
def test_gateway_latency_is_measured_on_the_call_it_slowed(spans, faults, operation):
    faults({"gateway_latency": 50})
    call = getattr(gateway, operation)
    call(reference="auth_x", **({"amount_cents": 100} if operation != "void" else {}))
    span = only_span(spans)
    assert span.name == f"gateway {operation}"
    assert span.attributes[attributes.GATEWAY_LATENCY_MS] >= 50
    assert span.attributes[attributes.FAULT_NAME] == "gateway_latency"
    assert span.attributes[attributes.GATEWAY_TRANSACTION_ID] == "auth_x"
