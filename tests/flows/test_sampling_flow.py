"""Head sampling across the real processes: a checkout kept by its rule is stored whole,
REST hops and the worker's tasks included, though every other root is dropped there; a
checkout dropped by its rule leaves no span in the store, though everything else is kept.

A stack of its own (its server and worker are restarted with the rules of each test), so
the session's stack keeps every trace for the other flow tests. The requests that start
the traces are sent untraced: the test process's own client span would otherwise be the
root (kept: the suite keeps everything) and the server would only follow it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from instrumentation.context import untraced
from tests.flows.conftest import Stack, confirmation_stored, running_stack

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def sampled(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("sampling")) as stack:
        yield stack


def sampled_flag(response: requests.Response) -> bool:
    """Whether the trace the server answered in is sampled (its ``traceresponse`` header)."""
    return bool(int(response.headers["traceresponse"].split("-")[3], 16) & 0x01)


def names(spans: list[dict]) -> set[str]:
    return {span["name"] for span in spans}


def test_a_checkout_kept_by_its_rule_is_stored_whole_across_rest_hops_and_the_worker(sampled):
    """Rate 0 for everything but the checkout: the REST hops and the Celery tasks would be
    dropped as roots, and are kept because their parent was."""
    sampled.restart(TELEMETRY_SAMPLING_RULES="api/shop/checkout/=1.0", TELEMETRY_SAMPLE_RATE="0")
    with untraced():
        assert not sampled_flag(requests.get(f"{sampled.url}/api/shop/products/", timeout=10))
        response = sampled.checkout([("MOUSE-WIRELESS", 1)])
    assert response.status_code == 202, response.text
    assert sampled_flag(response)
    order_id, trace_id = response.json()["order_id"], response.json()["trace_id"]
    assert sampled.wait_for_status(order_id, {"confirmed", "failed"})["status"] == "confirmed"

    spans = sampled.trace(order_id, until=confirmation_stored)
    assert {span["trace_id"] for span in spans} == {trace_id}
    [root] = [span for span in spans if span["parent_span_id"] is None]
    assert root["name"] == "POST api/shop/checkout/"
    assert (root["attributes"]["sampling.rule"], root["attributes"]["sampling.probability"]) == (
        "api/shop/checkout/",
        1.0,
    )
    assert all("sampling.rule" not in span["attributes"] for span in spans if span is not root)
    servers = {span["service"] for span in spans if span["kind"] == "SERVER"}
    assert {"shop", "orders", "inventory", "payments"} <= servers  # the REST hops
    [run] = [span for span in spans if span["name"] == "run/orders.finalize_order"]
    assert run["resource"]["process.pid"] != root["resource"]["process.pid"]  # across the broker
    assert "run/payments.capture_payment" in names(spans)  # a hop from orders' worker to payments'
    assert "run/orders.record_step" in names(spans)  # and back
    assert "run/orders.send_order_email" in names(spans)  # a task the task queued


def test_a_checkout_dropped_by_its_rule_leaves_no_span_in_the_store(sampled):
    """Rate 1 for everything but the checkout: its REST hops and tasks would be kept as
    roots, and are dropped because their parent was; the order itself goes through."""
    sampled.restart(TELEMETRY_SAMPLING_RULES="api/shop/checkout/=0.0", TELEMETRY_SAMPLE_RATE="1.0")
    with untraced():
        assert sampled_flag(requests.get(f"{sampled.url}/api/shop/products/", timeout=10))
        response = sampled.checkout([("MOUSE-WIRELESS", 1)])
    assert response.status_code == 202, response.text
    assert not sampled_flag(response)
    order_id, trace_id = response.json()["order_id"], response.json()["trace_id"]
    assert sampled.wait_for_status(order_id, {"confirmed", "failed"})["status"] == "confirmed"
    assert sampled.wait_for_event(order_id, "email_confirmed")

    # A control, after the order's work: the same task published outside any trace starts
    # a kept trace in the worker (a no-op on a confirmed order), and once it is stored the
    # processes have flushed what they had before it.
    sampled.send_task("orders.finalize_order", order_id=order_id)
    control = sampled.trace(order_id, until=lambda s: "run/orders.finalize_order" in names(s))
    assert "run/orders.finalize_order" in names(control)
    assert {span["trace_id"] for span in control} != {trace_id}
    with pytest.raises(AssertionError, match=f"No spans for trace {trace_id}"):
        sampled.manage("trace", trace_id, "--json")
