"""The dashboard's figures under head sampling, on the real processes: checkouts whose
traces the head sampler does not keep are still each counted once, as requests and as
edges between the apps, because the metrics are counted from every request and task run
(``SpanMetric``), not from the stored spans."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.flows.conftest import Stack, running_stack

pytestmark = pytest.mark.flow

CHECKOUTS = 7
CHECKOUT = "POST api/shop/checkout/"
FINALIZE = "run/orders.finalize_order"
# The dashboard's own reads, over everything stored, as one JSON document.
READ_METRICS = f"""
import json
from telemetry.dashboard import metrics
from telemetry.models import Span, SpanMetric
win = metrics.window("all")
operations = metrics.operation_metrics(win)
checkout = SpanMetric.objects.filter(name={CHECKOUT!r}, kind="SERVER")
print(json.dumps({{
    "operations": {{f"{{op.service}} {{op.operation}}": op.stats.calls for op in operations}},
    "edges": {{f"{{e.source}}>{{e.target}}": e.stats.calls for e in metrics.service_edges(win)}},
    "checkout_sampled": checkout.filter(sampled=True).count(),
    "checkout_stored": Span.objects.filter(name={CHECKOUT!r}, kind="SERVER").count(),
}}))
"""


@pytest.fixture(scope="module")
def unsampled_checkouts(tmp_path_factory) -> Iterator[Stack]:
    """A stack whose head sampler keeps no checkout trace (and nothing else either), after
    ``CHECKOUTS`` checkouts."""
    with running_stack(
        tmp_path_factory.mktemp("sampled-stack"),
        TELEMETRY_SAMPLING_RULES="api/shop/checkout/*=0,api/shop/checkout/=0",
        TELEMETRY_SAMPLE_RATE="0",
    ) as stack:
        for _ in range(CHECKOUTS):
            response = stack.checkout([("MOUSE-WIRELESS", 1)])
            assert response.status_code == 202, response.text
        yield stack


def read_metrics(stack: Stack, until, timeout: float = 60) -> dict:
    """The figures, once ``until(figures)`` holds (metric rows arrive in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        figures = json.loads(stack.manage("shell", "-c", READ_METRICS).splitlines()[-1])
        if until(figures) or time.monotonic() > deadline:
            return figures
        time.sleep(0.5)


# What each checkout asks of each app (a request or task run each), and the calls between
# the apps it makes: shop calls orders twice (create, place).
PER_CHECKOUT = {
    f"shop {CHECKOUT}": 1,
    "orders POST api/orders/": 1,
    "orders POST api/orders/<uuid:order_id>/place/": 1,
    "inventory POST api/inventory/reservations/": 1,
    "payments POST api/payments/authorizations/": 1,
    f"orders-worker {FINALIZE}": 1,
    "payments-worker run/payments.capture_payment": 1,
    "inventory-worker run/inventory.commit_reservation": 1,
    "orders-worker run/orders.record_step": 2,
    "orders-worker run/orders.send_order_email": 1,
}
EDGES_PER_CHECKOUT = {
    "shop>orders": 2,
    "shop>payments": 1,
    "orders>orders-worker": 1,  # the finalize task's publish → run
    "orders-worker>payments-worker": 1,  # the capture's publish → run
    "orders-worker>inventory-worker": 1,  # the commit's
    "payments-worker>orders-worker": 1,  # their reports
    "inventory-worker>orders-worker": 1,
}


def test_every_checkout_is_counted_whatever_the_head_sampler_keeps(unsampled_checkouts):
    """Seven checkouts → seven checkout requests on the metrics page, seven of each request
    and task run a checkout makes, and its calls on the services graph's edges, whether
    the head sampler kept the traces or not (until the sampler lands, it keeps them all:
    the figures read the same)."""
    expected = {name: n * CHECKOUTS for name, n in PER_CHECKOUT.items()}
    expected_edges = {name: n * CHECKOUTS for name, n in EDGES_PER_CHECKOUT.items()}

    figures = read_metrics(
        unsampled_checkouts,
        until=lambda f: all(f["operations"].get(name, 0) >= n for name, n in expected.items())
        and all(f["edges"].get(name, 0) >= n for name, n in expected_edges.items()),
    )

    assert {name: figures["operations"].get(name) for name in expected} == expected
    assert {name: figures["edges"].get(name) for name in expected_edges} == expected_edges


def test_the_metric_rows_know_which_checkouts_were_stored(unsampled_checkouts):
    """Whatever the sampler decided, each checkout has one metric row, and the rows marked
    sampled are exactly the checkout requests the store holds (none with the rules here,
    once the head sampler lands)."""
    figures = read_metrics(
        unsampled_checkouts, until=lambda f: f["operations"].get(f"shop {CHECKOUT}", 0) >= CHECKOUTS
    )
    assert figures["operations"][f"shop {CHECKOUT}"] == CHECKOUTS
    assert figures["checkout_sampled"] == figures["checkout_stored"] <= CHECKOUTS
