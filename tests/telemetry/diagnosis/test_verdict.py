"""The verdict: the service at fault, the operation and the cause, on traces whose answer
is known (synthetic/builders.py): what the failure catalogue compares."""

from __future__ import annotations

import pytest

from synthetic import builders as traces
from synthetic.builders import TraceBuilder
from telemetry.diagnosis import verdict as v
from telemetry.diagnosis.analysis import analyze


def verdict_of(trace: TraceBuilder) -> v.Verdict:
    found = analyze(trace.spans).verdict
    assert found is not None
    return found


def test_a_statement_stopped_by_the_database_is_a_timeout_in_the_service_that_ran_it():
    found = verdict_of(traces.retried_db_timeouts(attempts=2))
    expected = ("orders-worker", "UPDATE orders_order", v.DB_TIMEOUT)
    assert (found.service, found.operation, found.cause) == expected
    assert "after 300 ms on attempt 1 of orders.finalize_order" in found.sentence
    assert "injected fault order_db_timeout" in found.sentence


def test_a_call_that_could_not_connect_blames_the_callee_named_by_its_path():
    found = verdict_of(traces.unreachable_then_db_timeout())
    assert (found.service, found.cause) == ("payments", v.UNREACHABLE)
    assert found.operation.startswith("POST /api/payments/payments/")
    assert found.sentence.startswith("orders-worker: POST /api/payments/payments/")


def refused_trace(status: int) -> TraceBuilder:
    """The shop's reservation call answered ``status``; inventory's fault flag fired."""
    trace = TraceBuilder()
    request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=50, kind="SERVER")
    client = trace.span(
        "POST",
        service="shop",
        start=5,
        ms=20,
        parent=request,
        kind="CLIENT",
        attributes={"http.url": f"{traces.HOST}/api/inventory/reservations/", "http.status_code": status},
        status="ERROR",
    )
    trace.span(
        "POST api/inventory/reservations/",
        service="inventory",
        start=6,
        ms=15,
        parent=client,
        kind="SERVER",
        attributes={"http.status_code": status, "fault.name": "inventory_shortage"},
        status="ERROR" if status >= 500 else "",
    )
    return trace


def test_a_refused_call_blames_the_callee_with_its_status_and_fault():
    found = verdict_of(refused_trace(409))
    assert (found.service, found.operation, found.cause) == (
        "inventory",
        "POST api/inventory/reservations/",
        v.REFUSED,
    )
    assert "HTTP 409" in found.sentence and "inventory_shortage" in found.sentence
    assert found.fault == "inventory_shortage"  # the callee's: the verdict names the fault it blames


def test_a_5xx_from_the_callee_is_a_dependency_error():
    found = verdict_of(refused_trace(503))
    assert (found.service, found.cause) == ("inventory", v.DEPENDENCY_5XX)


def test_the_gateway_decline_below_a_402_is_the_root_cause_not_the_callers_call():
    """The payments request answered 402 (not a server error), so the shop's failed call is
    an error origin too; the decline below it explains it and is the root cause."""
    trace = refused_trace(402)
    server = trace.spans[-1]
    server.attributes.pop("fault.name")
    trace.span(
        "gateway authorize",
        service="payments",
        start=8,
        ms=3,
        parent=server,
        attributes={"payment.gateway.outcome": "declined", "fault.name": "payment_decline"},
        error=("payments.errors.PaymentDeclined", "The gateway declined the authorize: card_declined."),
    )
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == ("payments", "gateway authorize", v.CARD_DECLINED)
    assert "payment_decline" in found.sentence


def test_an_n_plus_one_without_error_is_the_verdict_of_its_request():
    found = verdict_of(traces.n_plus_one())
    assert (found.service, found.operation, found.cause) == ("shop", "GET api/shop/products/", v.N_PLUS_ONE)


def test_a_slow_server_span_with_time_in_no_child_is_a_slow_service():
    found = verdict_of(traces.slow_gateway())
    assert (found.service, found.cause) == ("payments", v.SLOW_CODE)
    assert found.operation == "POST api/payments/payments/<uuid:order_id>/capture/"


def test_spans_whose_parent_never_arrived_are_a_worker_that_died_mid_task():
    """The first run's span is gone (its process was killed); its statements were exported
    before; the task ran again and succeeded."""
    trace = TraceBuilder()
    publish = traces.checkout(trace)
    lost = traces.run(trace, publish, "orders.finalize_order", 1, start=200, ms=50)
    trace.statement(lost, 'UPDATE "orders_order" SET "confirmation_code" = %s', start=205)
    traces.run(trace, publish, "orders.finalize_order", 1, start=4300, ms=60)
    trace.spans.remove(lost)
    diagnosis = analyze(trace.spans)
    assert diagnosis.root_cause is None and diagnosis.verdict is not None
    found = diagnosis.verdict
    assert (found.service, found.operation, found.cause) == (
        "orders-worker",
        "run/orders.finalize_order",
        v.WORKER_LOST,
    )
    assert "died before ending it (no end recorded), after starting UPDATE orders_order" in found.sentence
    assert "orders.finalize_order ran again afterwards (ok)" in found.sentence
    assert "run/" not in found.sentence  # the task in words, not a span's name


def test_task_runs_whose_publish_died_with_the_worker_name_the_run_delivered_again():
    """Finalize published the capture and the commit, then its process was killed: nothing
    of the dead run arrived, only the two runs (in payments' and inventory's workers) and
    their reports, whose parent never did. They ran elsewhere: the verdict names finalize,
    delivered again, not payments' worker."""
    trace = TraceBuilder()
    publish = traces.checkout(trace)
    lost = [traces.run(trace, publish, "orders.finalize_order", 1, start=200, ms=50)]
    for number, task in enumerate(("payments.capture_payment", "inventory.commit_reservation")):
        lost.append(traces.publish(trace, lost[0], task, start=210 + number))
        ran = traces.run(trace, lost[-1], task, 1, start=220 + number * 10, ms=8)
        report = traces.publish(trace, ran, "orders.record_step", start=227 + number * 10)
        traces.run(trace, report, "orders.record_step", 1, start=229 + number * 10, ms=3)
    traces.run(trace, publish, "orders.finalize_order", 1, start=4300, ms=60)
    for span in lost:  # ids are handed out by count: remove once all are built
        trace.spans.remove(span)
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == (
        "orders-worker",
        "run/orders.finalize_order",
        v.WORKER_LOST,
    )
    # What the dead run did is read from the orphaned run: it published the capture.
    assert "(no end recorded), after publishing payments.capture_payment" in found.sentence
    assert "run/" not in found.sentence


def test_a_healthy_trace_has_nothing_to_blame():
    trace = TraceBuilder()
    trace.span("GET api/shop/products/", service="shop", start=0, ms=5, kind="SERVER")
    found = verdict_of(trace)
    assert found.cause == v.NOTHING


@pytest.mark.parametrize(
    "command, below_publish",
    [("LPUSH", False), ("PING", True)],
    ids=["message-pushed-beside-the-publish", "channel-opened-below-the-publish"],
)
def test_redis_down_blames_the_failed_publish_and_says_the_outbox_sent_it_again(command, below_publish):
    """The throttle's read fails first (it fails open); the publish is what lost the task
    until the outbox relay published it again, whichever of kombu's commands failed: the
    LPUSH of the message, beside the apply_async span, or the PING of a new channel, below
    it (kombu 5.7 opens a channel per publish after a lost connection)."""
    refused = ("redis.exceptions.ConnectionError", "Error 111 connecting to 127.0.0.1:6379.")
    trace = TraceBuilder()
    request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=300, kind="SERVER")
    trace.span(
        "GET",
        service="shop",
        start=1,
        ms=2,
        parent=request,
        kind="CLIENT",
        attributes={"db.system": "redis", "db.statement": "GET ?"},
        error=refused,
    )
    place = trace.span(
        "POST api/orders/<uuid:order_id>/place/",
        service="orders",
        start=50,
        ms=200,
        parent=request,
        kind="SERVER",
    )
    publish = traces.publish(trace, place, "orders.finalize_order", start=100, ms=30)
    trace.span(
        command,
        service="orders",
        start=101,
        ms=20,
        parent=publish if below_publish else place,
        kind="CLIENT",
        attributes={"db.system": "redis", "db.statement": f"{command} ? ?"},
        error=refused,
    )
    relay = trace.span("orders.reconcile order", service="orders-worker", start=6100, ms=10, parent=place)
    traces.publish(trace, relay, "orders.finalize_order", start=6101)
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == (
        "orders",
        "apply_async/orders.finalize_order",
        v.BROKER_DOWN,
    )
    assert "the outbox published it again 6000 ms later" in found.sentence


def test_a_dead_worker_seen_only_through_its_callees_server_span_is_named_by_the_run_after():
    """The worker died before exporting anything of its own: only inventory's server span of
    its call is stored, orphaned. The process that died is the one whose task ran again."""
    trace = TraceBuilder()
    publish = traces.checkout(trace)
    lost = traces.run(trace, publish, "orders.finalize_order", 1, start=200, ms=50)
    commit = trace.call(
        lost, "api/inventory/reservations/<uuid:order_id>/commit/", service="inventory", start=210, ms=10
    )
    traces.run(trace, publish, "orders.finalize_order", 1, start=4300, ms=60)
    trace.spans.remove(lost)
    trace.spans.remove(next(s for s in trace.spans if s.span_id == commit.parent_span_id))
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == (
        "orders-worker",
        "run/orders.finalize_order",
        v.WORKER_LOST,
    )
    assert "the orders-worker process running it died" in found.sentence
    assert "after calling inventory: POST api/inventory/reservations/<uuid:order_id>/commit/" in (
        found.sentence
    )


# -- the shapes the catalogue's slow query, N+1 and 5xx kinds store ------------------------

PRODUCTS_BY_SKU = (
    'SELECT "shop_product"."id", "shop_product"."sku" FROM "shop_product" '
    'WHERE ("shop_product"."sku" IN (%s) AND (SELECT threadline_sleep(%s)) = 1)'
)


def test_a_statement_slow_in_the_database_is_a_slow_query_in_the_service_that_ran_it():
    """The checkout's catalogue read took 2 s in the database (``catalogue_slow_query``): a
    statement over the slow-statement line keeps its own span, and it spent the time."""
    trace = TraceBuilder()
    publish = traces.checkout(trace)
    step = next(s for s in trace.spans if s.name == "checkout")
    step.attributes["fault.name"] = "catalogue_slow_query"
    trace.statement(step, PRODUCTS_BY_SKU, start=51, ms=2000)
    traces.run(trace, publish, "orders.finalize_order", 1, start=2200, ms=100)
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == ("shop", "SELECT shop_product", v.SLOW_QUERY)
    assert found.sentence.startswith("SELECT on shop spent 2000 ms")


def test_an_n_plus_one_folded_into_its_request_is_the_requests_n_plus_one():
    """Fast reads are not exported but counted on their parent (instrumentation/statements.py):
    the product list's eight SELECTs by id are only its summary attributes."""
    trace = TraceBuilder()
    trace.span(
        "GET",
        service="shop",
        start=0,
        ms=40,
        kind="SERVER",
        attributes={
            "http.status_code": 200,
            "fault.name": "catalogue_n_plus_one",
            "db.summary.count": 9,
            "db.summary.top_statement": 'SELECT "shop_product"."id" FROM "shop_product" '
            'WHERE "shop_product"."id" = %s LIMIT 21',
            "db.summary.top_count": 8,
        },
    )
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == ("shop", "GET", v.N_PLUS_ONE)
    assert found.sentence.startswith("8 near-identical statements in GET (shop)")


def test_a_dependency_shedding_load_is_its_5xx_not_the_callers_exception():
    """Inventory answered 503 (``inventory_unavailable``) with no exception of its own; the
    shop's client span, its checkout (which raised ServiceUnavailable) and its request are
    errors above it. The callee's answer is the root cause."""
    trace = refused_trace(503)
    request, client, server = trace.spans
    server.attributes["fault.name"] = "inventory_unavailable"
    request.status = "ERROR"
    trace.span(
        "checkout",
        service="shop",
        start=2,
        ms=40,
        parent=request,
        error=("core.api.ServiceUnavailable", "POST /api/inventory/reservations/ answered 503"),
    )
    client.parent_span_id = trace.spans[-1].span_id
    found = verdict_of(trace)
    assert (found.service, found.operation, found.cause) == (
        "inventory",
        "POST api/inventory/reservations/",
        v.DEPENDENCY_5XX,
    )
    assert found.sentence == (
        "inventory: POST api/inventory/reservations/ answered HTTP 503 (injected fault inventory_unavailable)"
    )
    assert found.fault == "inventory_unavailable"
