"""A card gateway simulator the project owns: the one thing outside the system.

Test tokens decide the answer (``tok_ok`` approves, ``tok_decline`` declines); the
``payment_decline`` fault declines a share of the rest and ``gateway_latency`` slows
every call. Calls are idempotent per key,
as a real gateway's are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from faults.services import fault_delay, fault_fires

DECLINING_TOKENS = {
    "tok_decline": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
}


@dataclass(frozen=True)
class GatewayAnswer:
    approved: bool
    reference: str = ""
    reason: str = ""


def authorize(*, token: str, amount_cents: int, idempotency_key: str) -> GatewayAnswer:
    fault_delay("gateway_latency")
    if token in DECLINING_TOKENS:
        return GatewayAnswer(approved=False, reason=DECLINING_TOKENS[token])
    if fault_fires("payment_decline"):
        return GatewayAnswer(approved=False, reason="card_declined (injected fault)")
    reference = "auth_" + uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex[:20]
    return GatewayAnswer(approved=True, reference=reference)


def capture(*, reference: str, amount_cents: int) -> GatewayAnswer:
    fault_delay("gateway_latency")
    return GatewayAnswer(approved=True, reference=reference)


def void(*, reference: str) -> GatewayAnswer:
    fault_delay("gateway_latency")
    return GatewayAnswer(approved=True, reference=reference)


def refund(*, reference: str, amount_cents: int) -> GatewayAnswer:
    fault_delay("gateway_latency")
    return GatewayAnswer(approved=True, reference=reference)
