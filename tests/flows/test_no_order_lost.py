"""Issue 3's promises under real faults, injected into the real server, worker and broker:
no order answered and then lost, no charge without an order, no unit sold twice, and
every failure visible in the order's trace."""

from __future__ import annotations

import glob
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings

from config import queues
from devstack.broker import PrivateRedis
from instrumentation import names

pytestmark = pytest.mark.flow


def count(kinds: list[str], kind: str) -> int:
    return sum(1 for k in kinds if k == kind)


def test_an_order_that_could_not_be_stored_is_never_answered_received(calm):
    """Promise 1: when placing the order fails inside the checkout, the customer gets an
    error, and the order is failed and undone, not left half-done."""
    stock_before = calm.stock()
    calm.set_faults("order_place_db_timeout=1.0", "order_db_stall=0.2")
    response = calm.checkout([("WEBCAM-1080", 1)])
    calm.manage("faults", "reset")

    assert response.status_code == 503
    error = response.json()
    assert error["code"] == "service_unavailable"
    order = calm.order(error["extra"]["order_id"])  # a fresh read, through another request
    assert order["status"] == "failed"
    assert {"payment_voided", "stock_released"} <= set(calm.event_kinds(order["order_id"]))
    assert calm.stock() == stock_before


def test_an_authorisation_slower_than_the_checkout_timeout_is_voided_when_it_lands(calm):
    """Promise 2, no orphan charge: the card gateway outlives the shop's 10 s read timeout.
    The checkout answers 503 and fails the order (its cancel finds no payment yet and
    marks it cancelled); when the authorisation lands, payments voids it at once."""
    stock_before = calm.stock()
    calm.set_faults("gateway_latency=10500")
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(calm.checkout, [("WEBCAM-1080", 1)])
        time.sleep(2)  # the authorisation sleeps at the gateway; the late void need not
        calm.manage("faults", "reset")
        response = answer.result()

    assert response.status_code == 503, response.text
    order_id = response.json()["extra"]["order_id"]
    assert calm.order(order_id)["status"] == "failed"
    deadline = time.monotonic() + 15
    while True:
        money = calm.internal("GET", "/api/payments/summary/", params={"order_id": order_id}).json()
        if money["voided"]["count"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (money["voided"]["count"], money["authorized"]["count"]) == (1, 0), money
    assert calm.stock() == stock_before


def test_with_5_units_left_30_concurrent_buyers_give_5_sales_and_25_clean_refusals(calm):
    """Promise 3: no oversell and no 500 (nor "database is locked") under contention."""
    sku = "DOCK-USBC"
    left = calm.stock()[sku]
    if left > 5:
        assert calm.checkout([(sku, left - 5)]).status_code == 202
    barrier = threading.Barrier(30)

    def buy(_: int) -> requests.Response:
        barrier.wait()
        return calm.checkout([(sku, 1)])

    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(buy, range(30)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 5 + [409] * 25, [r.text for r in responses if r.status_code >= 500]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    level = calm.stock_levels()[sku]
    assert level["available"] == 0 and level["reserved"] + level["sold"] == level["on_hand"]


def test_a_worker_killed_mid_confirmation_is_replaced_and_the_order_confirmed_once(calm):
    """Promise 5: SIGKILL the whole worker while it confirms (payments' capture in flight);
    a new worker takes the unacknowledged task over (late ack, visibility timeout), the
    capture runs again and the order is confirmed exactly once."""
    calm.set_faults("gateway_latency=3000")  # the capture holds payments' task for 3 s
    response = calm.checkout([("MOUSE-WIRELESS", 1)])
    order_id = response.json()["order_id"]
    assert calm.wait_for_event(order_id, "confirmation_written")
    calm.kill_worker()
    calm.manage("faults", "reset")
    calm.start_worker()

    order = calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)
    assert order["status"] == "confirmed"
    assert calm.wait_for_event(order_id, "email_confirmed")
    kinds = calm.event_kinds(order_id)
    assert count(kinds, "confirmed") == 1 and count(kinds, "email_confirmed") == 1


def test_the_worker_crash_fault_kills_the_child_and_the_redelivered_task_confirms_once(calm):
    """Promise 5 with the fault flag: the child process dies (SIGKILL) in finalize, after
    the capture and commit were asked for (each then runs twice, changing things once);
    the message is rejected back to the queue and the order is still confirmed once."""
    calm.set_faults("worker_crash=1.0")
    order_id = calm.checkout([("HEADSET-USB", 1)]).json()["order_id"]
    assert calm.wait_for_event(order_id, "worker_crash_injected")
    calm.set_faults("worker_crash=0")

    order = calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)
    assert order["status"] == "confirmed"
    assert calm.wait_for_event(order_id, "email_confirmed")
    kinds = calm.event_kinds(order_id)
    assert count(kinds, "confirmed") == 1 and count(kinds, "email_confirmed") == 1
    deadline = time.monotonic() + 15  # the parent may notice its child's death late, when busy
    while "SIGKILL" not in calm.log_path("worker").read_text():
        assert time.monotonic() < deadline, "the worker's log does not say its child was killed"
        time.sleep(0.2)


def test_undo_workers_killed_after_their_undo_run_it_again_and_the_order_fails_once(calm):
    """A worker of payments and of inventory dies (SIGKILL) after the void and the release,
    before reporting to orders: each message comes back, the second void and release change
    nothing, the reports arrive, the order fails once with one void and its stock back."""
    stock_before = calm.stock()
    kills_before = calm.log_path("worker").read_text().count("killing process")
    calm.set_faults("order_db_timeout=1.0", "order_db_stall=0.3", "undo_worker_crash=1.0")
    order_id = calm.checkout([("HEADSET-USB", 1)]).json()["order_id"]
    deadline = time.monotonic() + 60
    while calm.log_path("worker").read_text().count("killing process") < kills_before + 2:
        assert time.monotonic() < deadline, "no undo worker was killed"
        time.sleep(0.2)
    assert calm.order(order_id)["status"] == "failing"  # undone, not reported
    calm.manage("faults", "reset")

    order = calm.wait_for_status(order_id, {"failed"}, timeout=60)
    assert order["status"] == "failed"
    kinds = calm.event_kinds(order_id)
    assert [count(kinds, kind) for kind in ("payment_voided", "stock_released", "failed")] == [1, 1, 1]
    summary = calm.internal("GET", "/api/payments/summary/", params={"order_id": order_id}).json()
    assert (summary["voided"]["count"], summary["authorized"]["count"]) == (1, 0)
    assert calm.stock() == stock_before


def test_step_workers_killed_before_they_report_run_again_and_the_order_is_confirmed_once(calm):
    """A worker of payments and one of inventory (a pool per queue) die (SIGKILL) after the
    capture and the commit, before reporting to orders: each message comes back, the second
    capture and commit change nothing, the reports arrive and the order is confirmed once,
    with one capture at the gateway and one unit sold. The trace shows each dead run (its
    own span died with it: what it did is orphaned) beside the run that reported."""
    sku = "HEADSET-USB"
    level_before = calm.stock_levels()[sku]
    prefix = settings.CELERY_TASK_DEFAULT_QUEUE
    calm.stop_process("worker")
    pools = {app: f"worker-{app}" for app in queues.TASK_APPS}
    try:
        for app, name in pools.items():
            calm.start_worker(name, [queues.app_queue(prefix, app)] + ([prefix] if app == "orders" else []))
        calm.set_faults("step_worker_crash=1.0")
        body = calm.checkout([(sku, 1)]).json()
        order_id = body["order_id"]
        # This order's kill: the fault also kills a step that an earlier test left queued.
        killed = f"trace_id={body['trace_id']} span_id="
        deadline = time.monotonic() + 60
        for app in STEPS:
            while not any(
                killed in line and "killing process" in line
                for line in calm.log_path(pools[app]).read_text().splitlines()
            ):
                assert time.monotonic() < deadline, f"no {app} worker was killed running the order's step"
                time.sleep(0.2)
        assert calm.order(order_id)["status"] == "placed"  # captured and committed, not reported
        calm.manage("faults", "reset")

        order = calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)
        assert order["status"] == "confirmed"
        assert calm.wait_for_event(order_id, "email_confirmed")
        spans = calm.trace(order_id, until=lambda s: all(reported_run(s, t) for t in STEPS.values()))
    finally:
        try:
            calm.stop_processes(*pools.values())
        finally:
            calm.start_worker()

    kinds = calm.event_kinds(order_id)
    once = ("capture_done", "commit_done", "confirmed", "email_confirmed")
    assert [count(kinds, kind) for kind in once] == [1] * len(once)
    summary = calm.internal("GET", "/api/payments/summary/", params={"order_id": order_id}).json()
    assert (summary["captured"]["count"], summary["authorized"]["count"]) == (1, 0)
    level = calm.stock_levels()[sku]
    assert (level["available"], level["reserved"], level["sold"]) == (
        level_before["available"] - 1,
        level_before["reserved"],
        level_before["sold"] + 1,
    )
    for app, task in STEPS.items():
        run = reported_run(spans, task)
        assert run is not None, f"no run of {task} reported done"
        dead = dead_runs(spans, f"{app}-worker")
        assert dead, f"no trace of the {app} worker's dead run"
        assert min(s["start_time"] for orphans in dead.values() for s in orphans) < run["start_time"]
    [gateway_capture] = [s for s in spans if s["name"] == names.gateway_span("capture")]
    assert top_of(spans, gateway_capture)["parent_span_id"] in dead_runs(spans, "payments-worker")


# The confirmation's steps, by the app whose worker runs them.
STEPS = {"payments": "payments.capture_payment", "inventory": "inventory.commit_reservation"}


def reported_run(spans: list[dict], task: str) -> dict | None:
    """A run of ``task`` that reported ``done`` to orders, if the trace holds one."""
    reports = [s for s in spans if s["name"] == "apply_async/orders.record_step"]
    for run in (s for s in spans if s["name"] == f"run/{task}" and s["status"] != "ERROR"):
        reported = any(s["parent_span_id"] == run["span_id"] for s in reports)
        if reported and run["attributes"].get("order.step.outcome") == "done":
            return run
    return None


def dead_runs(spans: list[dict], service: str) -> dict[str, list[dict]]:
    """The runs of ``service`` that died before ending: by the id of their span (never stored),
    the spans that ended under it and were stored (orphans)."""
    ids = {s["span_id"] for s in spans}
    dead: dict[str, list[dict]] = {}
    for span in spans:
        if span["service"] == service and span["parent_span_id"] and span["parent_span_id"] not in ids:
            dead.setdefault(span["parent_span_id"], []).append(span)
    return dead


def top_of(spans: list[dict], span: dict) -> dict:
    """``span``'s highest stored ancestor (itself if its parent was not stored)."""
    by_id = {s["span_id"]: s for s in spans}
    while span["parent_span_id"] in by_id:
        span = by_id[span["parent_span_id"]]
    return span


def test_with_the_broker_down_the_order_is_placed_and_confirmed_once_redis_is_back(calm):
    """Promise 6: the outbox row is committed with the order; when Redis returns, the
    relay (orders.reconcile) publishes it, in the order's own trace."""
    port = calm.redis.port
    calm.redis.stop()
    try:
        response = calm.checkout([("SSD-2TB", 1)])
    finally:
        calm.redis = PrivateRedis(port=port)
    assert response.status_code == 202, response.text
    order_id, trace_id = response.json()["order_id"], response.json()["trace_id"]
    assert response.json()["status"] == "placed"

    order = calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=90)
    assert order["status"] == "confirmed"
    spans = calm.trace(order_id, until=lambda s: any(x["name"] == "run/orders.finalize_order" for x in s))
    assert {span["trace_id"] for span in spans} == {trace_id}
    assert any(span["name"] == "run/orders.finalize_order" for span in spans)


def test_a_finalize_delivered_three_times_at_once_confirms_once_and_mails_once(calm):
    """Promises 6 and 7: duplicates (a relay that died after publishing, a redelivery),
    run concurrently by two worker processes, change the order once and send one email."""
    calm.kill_worker()
    order_id = calm.checkout([("KEYBOARD-MECH", 1)]).json()["order_id"]
    for _ in range(2):
        calm.send_task("orders.finalize_order", order_id=order_id)
    calm.start_worker()

    order = calm.wait_for_status(order_id, {"confirmed", "failed"}, timeout=60)
    assert order["status"] == "confirmed"
    assert calm.wait_for_event(order_id, "email_confirmed")
    for _ in range(3):  # and again, in sequence, after the fact
        calm.send_task("orders.finalize_order", order_id=order_id)
        calm.send_task("orders.send_order_email", order_id=order_id, kind="confirmed")
    time.sleep(2)
    kinds = calm.event_kinds(order_id)
    assert count(kinds, "confirmation_written") == 1
    assert count(kinds, "confirmed") == 1 and count(kinds, "email_confirmed") == 1
    mails = [
        path
        for path in glob.glob(f"{calm.env['THREADLINE_VAR_DIR']}/mail/*")
        if order_id in open(path).read()
    ]
    assert len(mails) == 1
    assert calm.order(order_id)["status"] == "confirmed"  # never moved backwards


def test_an_order_abandoned_mid_checkout_is_failed_by_reconcile_in_its_trace(calm):
    """Promise 8: nothing waits forever; the stuck order gets a reason, its trace shows
    what reconcile did, and the worker's log line carries the trace id."""
    created = calm.internal(
        "POST",
        "/api/orders/",
        json={
            "email": "flow@example.com",
            "lines": [
                {"sku": "MOUSE-WIRELESS", "name": "Wireless mouse", "quantity": 1, "unit_price_cents": 2999}
            ],
        },
    ).json()
    order_id = created["order_id"]

    order = calm.wait_for_status(order_id, {"failed"}, timeout=60)
    assert order["reason"] == "checkout did not complete in time"
    # Reconcile's span and the compensation's run may come from different worker children.
    awaited = {"orders.reconcile order", "run/orders.compensate_order"}
    spans = calm.trace(order_id, until=lambda s: awaited <= {x["name"] for x in s})
    assert {span["trace_id"] for span in spans} == {order["trace_id"]}
    worker_log = calm.log_path("worker").read_text()
    assert f"order {order_id} is pending past its deadline (trace {order['trace_id']})" in worker_log
