"""A card gateway simulator the project owns: the one thing outside the system.

Test tokens decide the answer (``tok_ok`` approves, ``tok_decline`` declines); the
``payment_decline`` fault declines a share of the rest and ``gateway_latency`` slows
every call. Calls are idempotent per key, as a real gateway's are.

Each call runs in a span of its own (``gateway <operation>``), as a real gateway's HTTP call
would: auto-instrumentation sees nothing of it, so without the span a slow or declining
gateway would only show as time nobody accounted for. The span carries the gateway, the
operation, the outcome, the transaction id and the latency; a decline sets its status to
error (the operation failed, though the gateway answered), with the reason.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from faults.services import fault_delay, fault_fires
from instrumentation import attributes, names
from instrumentation.context import get_tracer, mark_error
from payments.errors import PaymentDeclined

GATEWAY = "card-simulator"
DECLINING_TOKENS = {
    "tok_decline": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
}

tracer = get_tracer(__name__)


@dataclass(frozen=True)
class GatewayAnswer:
    approved: bool
    reference: str = ""
    reason: str = ""


def _call(operation: str, answer: Callable[[], GatewayAnswer]) -> GatewayAnswer:
    """Run one gateway call in its span and record how it answered."""
    with tracer.start_as_current_span(names.gateway_span(operation)) as span:
        span.set_attribute(attributes.GATEWAY_NAME, GATEWAY)
        span.set_attribute(attributes.GATEWAY_OPERATION, operation)
        started = time.monotonic()
        result = answer()
        span.set_attribute(attributes.GATEWAY_LATENCY_MS, round((time.monotonic() - started) * 1000, 3))
        span.set_attribute(attributes.GATEWAY_OUTCOME, "approved" if result.approved else "declined")
        if result.reference:
            span.set_attribute(attributes.GATEWAY_TRANSACTION_ID, result.reference)
        if not result.approved:
            mark_error(PaymentDeclined(f"The gateway declined the {operation}: {result.reason}."))
        return result


def authorize(*, token: str, amount_cents: int, idempotency_key: str) -> GatewayAnswer:
    def answer() -> GatewayAnswer:
        fault_delay("gateway_latency")
        if token in DECLINING_TOKENS:
            return GatewayAnswer(approved=False, reason=DECLINING_TOKENS[token])
        if fault_fires("payment_decline"):
            return GatewayAnswer(approved=False, reason="card_declined (injected fault)")
        reference = "auth_" + uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex[:20]
        return GatewayAnswer(approved=True, reference=reference)

    return _call("authorize", answer)


def capture(*, reference: str, amount_cents: int) -> GatewayAnswer:
    return _call("capture", lambda: _after_latency(GatewayAnswer(approved=True, reference=reference)))


def void(*, reference: str) -> GatewayAnswer:
    return _call("void", lambda: _after_latency(GatewayAnswer(approved=True, reference=reference)))


def refund(*, reference: str, amount_cents: int) -> GatewayAnswer:
    return _call("refund", lambda: _after_latency(GatewayAnswer(approved=True, reference=reference)))


def _after_latency(answer: GatewayAnswer) -> GatewayAnswer:
    fault_delay("gateway_latency")
    return answer
