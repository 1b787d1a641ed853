"""Service edges and per-operation metrics on requests and task runs (their metric rows, as
``synthetic.builders.add_span`` writes them with the spans) and other spans with known
durations and statuses; every expected number is worked out by hand (nearest-rank
percentiles)."""

from __future__ import annotations

import pytest

from core.stats import percentile
from synthetic.builders import NOW, add_span, call, trace_id
from telemetry.dashboard import metrics

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def checkouts() -> None:
    """Three checkouts in the last hour and one two hours ago."""
    root = add_span("a", "shop", "POST api/shop/checkout/", ms=200)
    placed = call("a", root, "orders", "POST api/orders/", ms=10)
    call("a", root, "inventory", "POST api/inventory/reservations/", ms=20, status="ERROR")
    add_span("a", "orders", "SELECT", kind="CLIENT", parent=placed, ms=1)  # same service: no edge
    publish = add_span(
        "a", "orders", "apply_async/orders.finalize_order", kind="PRODUCER", parent=placed, ms=2
    )
    run = add_span("a", "orders-worker", "run/orders.finalize_order", kind="CONSUMER", parent=publish, ms=100)
    call("a", run, "payments", "POST api/payments/capture/", ms=5)

    root = add_span("b", "shop", "POST api/shop/checkout/", ms=300)
    call("b", root, "orders", "POST api/orders/", ms=30)
    call("b", root, "inventory", "POST api/inventory/reservations/", ms=40)

    root = add_span("c", "shop", "POST api/shop/checkout/", ms=90)
    call("c", root, "orders", "POST api/orders/", ms=50, status="ERROR")

    add_span("d", "payments", "POST x", parent_span_id="ffffffffffffffff")  # parent never stored

    old = add_span("e", "shop", "POST api/shop/checkout/", ago_s=7200, ms=1200)
    call("e", old, "orders", "POST api/orders/", ms=1000, ago_s=7200)


def edges_by_pair(key: str) -> dict[tuple[str, str], metrics.Stats]:
    return {(e.source, e.target): e.stats for e in metrics.service_edges(metrics.window(key, now_ns=NOW))}


def test_nearest_rank_percentiles():
    """p50/p95/p99 of 1..20 are the 10th, 19th and 20th values; one value is every
    percentile; no values, no percentile."""
    values = list(range(20, 0, -1))
    assert [percentile(values, p) for p in (50, 95, 99)] == [10, 19, 20]
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


def test_an_edge_joins_a_parent_and_a_child_span_of_different_services(checkouts):
    """Edges come from cross-service parent/child pairs only (not same-service children,
    not spans whose parent is missing), with the calls, errors and latency of the child."""
    edges = edges_by_pair("1h")
    assert set(edges) == {
        ("shop", "orders"),
        ("shop", "inventory"),
        ("orders", "orders-worker"),
        ("orders-worker", "payments"),
    }
    orders = edges[("shop", "orders")]  # 10 ms, 30 ms, 50 ms (error)
    assert (orders.calls, orders.errors) == (3, 1)
    assert orders.error_rate == pytest.approx(1 / 3)
    assert (orders.p50_ms, orders.p95_ms) == (30, 50)
    assert orders.slowest_trace_ids == (trace_id("c"), trace_id("b"), trace_id("a"))
    assert orders.failed_trace_ids == (trace_id("c"),)
    inventory = edges[("shop", "inventory")]  # 20 ms (error), 40 ms
    assert (inventory.calls, inventory.errors, inventory.p50_ms, inventory.p95_ms) == (2, 1, 20, 40)
    celery = edges[("orders", "orders-worker")]
    assert (celery.calls, celery.errors, celery.p50_ms, celery.p95_ms) == (1, 0, 100, 100)
    assert edges[("orders-worker", "payments")].p95_ms == 5


def test_an_edge_says_whether_its_calls_went_over_rest_or_through_a_queue(checkouts, settings):
    """A task run (CONSUMER) makes a queue edge named after the worker's app's own queue in
    this copy; a request (SERVER) a REST edge."""
    settings.CELERY_TASK_DEFAULT_QUEUE = "copy2"
    edges = {(e.source, e.target): e for e in metrics.service_edges(metrics.window("1h", now_ns=NOW))}
    celery = edges[("orders", "orders-worker")]
    assert (celery.via, celery.queue, celery.by_queue) == (metrics.QUEUE, "copy2.orders", True)
    rest = edges[("shop", "orders")]
    assert (rest.via, rest.queue, rest.by_queue) == (metrics.HTTP, "", False)
    assert metrics.queue_of("payments-worker") == "copy2.payments"
    assert metrics.queue_of("some-other-worker") == "copy2"  # the copy's default queue


def test_the_window_bounds_the_edges(checkouts):
    """The checkout of two hours ago counts in "all" only: 10, 30, 50, 1000 ms."""
    assert edges_by_pair("15m")[("shop", "orders")].calls == 3
    everything = edges_by_pair("all")[("shop", "orders")]
    assert (everything.calls, everything.p50_ms, everything.p95_ms) == (4, 30, 1000)


def test_edges_are_sorted_by_caller_and_callee(checkouts):
    """The table and the graph list edges in a stable order."""
    pairs = [(e.source, e.target) for e in metrics.service_edges(metrics.window("1h", now_ns=NOW))]
    assert pairs == sorted(pairs)


@pytest.fixture
def payments_calls() -> None:
    """Four authorisations in the last 15 minutes (one failed), one 1000 s ago, a capture,
    a gateway client span and a task run."""
    add_span("p1", "payments", "POST authorize", ago_s=890, ms=10)
    add_span("p2", "payments", "POST authorize", ago_s=600, ms=20, status="ERROR")
    add_span("p3", "payments", "POST authorize", ago_s=300, ms=40)
    add_span("p4", "payments", "POST authorize", ago_s=1, ms=30)
    add_span("p5", "payments", "POST authorize", ago_s=1000, ms=500)
    add_span("p6", "payments", "POST capture", ago_s=50, ms=60)
    add_span("p3", "payments", "POST gateway", kind="CLIENT", ago_s=300, ms=5)
    add_span("w1", "orders-worker", "run/orders.finalize_order", kind="CONSUMER", ago_s=100, ms=70)


def operations(key: str, **kwargs) -> dict[tuple[str, str], metrics.OperationMetrics]:
    found = metrics.operation_metrics(metrics.window(key, now_ns=NOW), **kwargs)
    return {(op.service, op.operation): op for op in found}


def test_operation_metrics_count_server_and_consumer_spans_by_default(payments_calls):
    """Rate is calls over the window; errors 1 of 4; p50 the 2nd of 10/20/30/40 ms, p95
    and p99 the 4th; the slowest and the failed trace are the examples."""
    ops = operations("15m")
    assert list(ops) == [
        ("orders-worker", "run/orders.finalize_order"),
        ("payments", "POST authorize"),
        ("payments", "POST capture"),
    ]
    authorize = ops[("payments", "POST authorize")]
    stats = authorize.stats
    assert (stats.calls, stats.errors, stats.error_rate) == (4, 1, 0.25)
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (20, 40, 40)
    assert authorize.rate_per_s == pytest.approx(4 / 900)
    assert stats.slowest_trace_ids[0] == trace_id("p3")
    assert stats.failed_trace_ids == (trace_id("p2"),)


def test_each_bucket_counts_the_spans_that_started_in_it(payments_calls):
    """15 min in 24 buckets of 37.5 s: 890, 600, 300 and 1 s ago fall in buckets 0, 8,
    16 and 23; an empty bucket has no p95; the failed one (600 s ago) counts in bucket 8's
    errors, the errors sparkline's."""
    buckets = operations("15m")[("payments", "POST authorize")].buckets
    assert len(buckets) == metrics.BUCKETS
    assert {i: b.calls for i, b in enumerate(buckets) if b.calls} == {0: 1, 8: 1, 16: 1, 23: 1}
    assert buckets[16].p95_ms == 40
    assert buckets[1].p95_ms is None
    assert {i: b.errors for i, b in enumerate(buckets) if b.errors} == {8: 1}
    assert buckets[8].start_ns == NOW - 900 * 10**9 + 8 * 37_500_000_000


def test_kinds_service_and_window_filters(payments_calls):
    """Other kinds on request; one service; a longer window takes in the 500 ms call."""
    assert list(operations("15m", kinds=("CLIENT",))) == [("payments", "POST gateway")]
    both = operations("15m", kinds=("SERVER", "CLIENT"))  # metric rows and stored spans together
    assert {key: op.stats.calls for key, op in both.items() if key[0] == "payments"} == {
        ("payments", "POST authorize"): 4,
        ("payments", "POST capture"): 1,
        ("payments", "POST gateway"): 1,
    }
    assert list(operations("15m", service="orders-worker")) == [
        ("orders-worker", "run/orders.finalize_order")
    ]
    hour = operations("1h")[("payments", "POST authorize")].stats
    assert (hour.calls, hour.p95_ms) == (5, 500)


def test_a_service_summary_takes_all_its_operations_together(payments_calls):
    """payments over 15 min: 10, 20 (error), 40, 30 and 60 ms → p50 30, p95 60, 1 error of 5."""
    stats = metrics.summary(metrics.window("15m", now_ns=NOW), service="payments")
    assert (stats.calls, stats.errors, stats.p50_ms, stats.p95_ms) == (5, 1, 30, 60)
    only = metrics.summary(metrics.window("15m", now_ns=NOW), service="payments", operation="POST capture")
    assert (only.calls, only.p95_ms) == (1, 60)


def test_an_unknown_window_is_the_default_and_all_has_no_start():
    """Windows end now; "all" reads from the first stored span."""
    assert metrics.window("bogus", now_ns=NOW).key == metrics.DEFAULT_WINDOW
    assert metrics.window("15m", now_ns=NOW).start_ns == NOW - 900 * 10**9
    assert metrics.window("all", now_ns=NOW).start_ns is None


def test_a_window_holding_more_than_max_rows_spans_is_computed_over_its_newest(payments_calls, monkeypatch):
    """Of the six request and task spans in the last 15 minutes, MAX_ROWS = 3 keeps the
    authorisation 1 s ago, the capture and the task run, and marks every figure partial."""
    monkeypatch.setattr(metrics, "MAX_ROWS", 3)
    ops = operations("15m")
    assert {key: op.stats.calls for key, op in ops.items()} == {
        ("orders-worker", "run/orders.finalize_order"): 1,
        ("payments", "POST authorize"): 1,
        ("payments", "POST capture"): 1,
    }
    assert ops[("payments", "POST authorize")].stats.slowest_trace_ids == (trace_id("p4"),)
    assert all(op.stats.partial for op in ops.values())
    monkeypatch.setattr(metrics, "MAX_ROWS", 6)  # exactly all of them: complete
    assert not any(op.stats.partial for op in operations("15m").values())


def test_the_examples_are_distinct_traces_even_when_one_trace_holds_the_slowest_spans():
    """Four calls in trace "a" are slower than any other: the three examples are still
    three traces, "a" first."""
    for ms in (90, 91, 92, 93):
        add_span("a", "payments", "POST authorize", ms=ms)
    for name, ms in (("b", 50), ("c", 40), ("d", 30)):
        add_span(name, "payments", "POST authorize", ms=ms)
    stats = metrics.summary(metrics.window("15m", now_ns=NOW), service="payments")
    assert stats.slowest_trace_ids == (trace_id("a"), trace_id("b"), trace_id("c"))


def test_requests_whose_traces_were_not_kept_count_but_are_never_examples():
    """Two stored authorisations and three the head sampler dropped (metric rows only, the
    slowest and a failed one among them): five calls, the percentiles over all five, and
    the examples only traces that can be shown."""
    add_span("kept-1", "payments", "POST authorize", ms=10)
    add_span("kept-2", "payments", "POST authorize", ms=20, status="ERROR")
    add_span("dropped-1", "payments", "POST authorize", ms=30, sampled=False)
    add_span("dropped-2", "payments", "POST authorize", ms=40, status="ERROR", sampled=False)
    add_span("dropped-3", "payments", "POST authorize", ms=50, sampled=False)
    stats = operations("15m")[("payments", "POST authorize")].stats
    assert (stats.calls, stats.errors, stats.p50_ms, stats.p95_ms) == (5, 2, 30, 50)
    assert stats.slowest_trace_ids == (trace_id("kept-2"), trace_id("kept-1"))
    assert stats.failed_trace_ids == (trace_id("kept-2"),)


def test_calls_of_traces_not_kept_are_edges_too():
    """A checkout the head sampler dropped still draws shop → orders, from the metric rows
    of the call and the request it made."""
    root = add_span("kept", "shop", "POST api/shop/checkout/", ms=100)
    call("kept", root, "orders", "POST api/orders/", ms=10)
    dropped = add_span("dropped", "shop", "POST api/shop/checkout/", ms=100, sampled=False)
    call("dropped", dropped, "orders", "POST api/orders/", ms=30, sampled=False)
    orders = edges_by_pair("1h")[("shop", "orders")]
    assert (orders.calls, orders.p95_ms, orders.slowest_trace_ids) == (2, 30, (trace_id("kept"),))
