"""Issue 14: the stack survives crashes, not only outages. The broker is killed outright
and comes back empty (a Redis without persistence), under a run of the simulator: the
worker outlives it, the messages the crash took are published again (outbox) or the
orders pushed on (reconcile), and the run ends with every order terminal and the books
balanced."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from devstack.launcher import commands
from tests.flows.conftest import Stack, running_stack

pytestmark = pytest.mark.flow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory) -> Iterator[Stack]:
    """A stack of its own (its broker is killed here), whose worker runs as `make run`
    starts it: with mingle, gossip and heartbeats, the paths the broker restart broke."""
    var = tmp_path_factory.mktemp("crash")
    with running_stack(var) as stack:
        stack.processes.pop("worker").terminate()
        stack.start("worker", *commands("127.0.0.1", 0, var / "schedule")["worker"])
        yield stack


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def queued_finalizes(stack: Stack) -> int:
    """Finalize tasks waiting in the broker for the worker (they die with the broker)."""
    queue = stack.env.get("CELERY_TASK_DEFAULT_QUEUE", "threadline")
    try:
        # The synchronous client: a list, not the awaitable redis-py's types also allow.
        messages = cast(list[bytes], redis.Redis.from_url(stack.redis.url).lrange(queue, 0, -1))
    except redis.RedisError:
        return 0
    return sum(json.loads(m)["headers"]["task"] == "orders.finalize_order" for m in messages)


def recovery_counts(stack: Stack) -> dict[str, int]:
    """How the lost work came back: outbox rows published more than once (the first
    attempt met no broker) and orders reconcile pushed on after their deadline."""
    script = (
        "import json; from orders.models import OrderEvent, OutboxMessage; "
        "print(json.dumps({'outbox_republished': OutboxMessage.objects.filter(attempts__gt=1).count(), "
        "'reconcile_pushed_on': OrderEvent.objects.filter(kind='reconcile_finalize').count()}))"
    )
    return json.loads(stack.manage("shell", "-c", script).strip().splitlines()[-1])


def test_a_broker_killed_and_restarted_empty_mid_run_loses_no_order(crash_stack, tmp_path):
    stack = crash_stack
    worker = stack.processes["worker"]
    # A slow capture keeps finalize tasks waiting in the queue, where the crash loses them.
    stack.set_faults("gateway_latency=1500")
    report_path = tmp_path / "report.json"
    run = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate_orders",
            *("--url", stack.url, "--orders", "30", "--concurrency", "6", "--seed", "14"),
            *("--timeout", "240", "--json", str(report_path)),
        ],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: queued_finalizes(stack) >= 2, 120, "finalize tasks waiting in the broker")
        lost = queued_finalizes(stack)
        stack.redis.crash()
        # Down long enough for checkouts to meet no broker: their tasks stay in the outbox.
        web_log = stack.log_path("web")
        wait_until(lambda: "outbox: could not publish" in web_log.read_text(), 120, "a publish refused")
        stack.redis.start()  # empty, on the same port
        stack.manage("faults", "reset")
        output, _ = run.communicate(timeout=400)
    finally:
        if run.poll() is None:
            run.kill()
    report = json.loads(report_path.read_text())

    assert run.returncode == 0, output
    assert report["passed"] is True, output
    assert report["stuck"] == [] and report["errors"] == [], output
    assert all(check["passed"] for check in report["checks"]), report["checks"]
    # The worker outlived the crash: the same process, no fatal error, consuming again.
    assert worker.poll() is None
    worker_log = stack.log_path("worker").read_text()
    assert "Unrecoverable error" not in worker_log
    assert "KeyError" not in worker_log
    after = stack.checkout([("MOUSE-WIRELESS", 1)])
    assert after.status_code == 202, after.text
    settled = stack.wait_for_status(after.json()["order_id"], {"confirmed", "failed"}, 120)
    assert settled["status"] == "confirmed"
    # The lost work came back the two ways it can.
    counts = recovery_counts(stack)
    assert lost >= 2 and counts["reconcile_pushed_on"] >= 1, (lost, counts)
    assert counts["outbox_republished"] >= 1, counts
