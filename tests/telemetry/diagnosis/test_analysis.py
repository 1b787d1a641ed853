"""The diagnosis of a trace, on traces whose answer is known (synthetic/builders.py)."""

from __future__ import annotations

import json

import pytest

from instrumentation import attributes, names
from synthetic import builders as traces
from synthetic.builders import MS, TraceBuilder
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.spans import normalize_statement, note
from telemetry.diagnosis.text import summary_line
from telemetry.diagnosis.timing import self_time_ns, union_ns


def by_id(trace: TraceBuilder, span_id: str):
    return next(span for span in trace.spans if span.span_id == span_id)


def kinds(diagnosis) -> list[str]:
    return [rec.kind for rec in diagnosis.recommendations]


# -- self time ----------------------------------------------------------------------------


def test_overlapping_intervals_are_counted_once():
    """[0,40] and [30,60] cover 60; a separate [80,90] adds 10."""
    assert union_ns([(30, 60), (0, 40), (80, 90)]) == 70


def test_self_time_subtracts_overlapping_children_once_and_clips_them_to_the_parent():
    """Parent 0-100 ms; children 10-40 and 30-60 overlap (50 ms covered), one starts 20 ms
    before the parent (clock skew, 0-5 counted), one outlives it (90-100 counted):
    self time is 100 - 50 - 5 - 10 = 35 ms."""
    trace = TraceBuilder()
    parent = trace.span("POST api/orders/", service="orders", start=20, ms=100, kind="SERVER")
    children = [
        trace.span("a", service="orders", start=30, ms=30, parent=parent),
        trace.span("b", service="orders", start=50, ms=30, parent=parent),
        trace.span("skewed", service="orders", start=0, ms=25, parent=parent),
        trace.span("outlives", service="orders", start=110, ms=40, parent=parent),
    ]
    assert self_time_ns(parent, children) == 35 * MS


def test_service_shares_are_self_time_over_the_summed_self_time():
    """A shop request of 100 ms calls payments for 60 ms (20-80), whose two statements
    overlap (30-50, 40-60): the server span's self time is 60 - 30 = 30 ms, each statement
    keeps its own 20 ms. Shop 40 ms, payments 70 ms, of 110 ms summed (more than the 100 ms
    wall time, as the statements ran concurrently): payments is the bottleneck."""
    trace = TraceBuilder()
    request = trace.span("GET /", service="shop", start=0, ms=100, kind="SERVER")
    server = trace.span(
        "POST api/payments/authorizations/", service="payments", start=20, ms=60, parent=request
    )
    trace.span("INSERT", service="payments", start=30, ms=20, parent=server)
    trace.span("UPDATE", service="payments", start=40, ms=20, parent=server)
    diagnosis = analyze(trace.spans)
    shares = {s.service: (s.self_ns, round(s.share, 3)) for s in diagnosis.services}
    assert shares == {"shop": (40 * MS, round(40 / 110, 3)), "payments": (70 * MS, round(70 / 110, 3))}
    assert diagnosis.total_ns == 110 * MS and diagnosis.wall_ns == 100 * MS
    assert diagnosis.bottleneck == "payments"


def test_no_bottleneck_when_no_service_takes_over_half():
    """Exactly half is not over half."""
    trace = TraceBuilder()
    request = trace.span("GET /", service="shop", start=0, ms=100, kind="SERVER")
    trace.span("POST api/orders/", service="orders", start=0, ms=50, parent=request, kind="SERVER")
    assert analyze(trace.spans).bottleneck is None


# -- a database timeout on every attempt ---------------------------------------------------


@pytest.fixture
def retried() -> TraceBuilder:
    return traces.retried_db_timeouts(attempts=3)


def test_the_root_cause_of_timeouts_on_every_attempt_is_the_first_attempts_statement(retried):
    """Attempts 1-3 all time out on the same UPDATE: the earliest, deepest error is attempt
    1's statement, with the driver's error, the injected fault, and the later repeats."""
    cause = analyze(retried.spans).root_cause
    assert cause is not None
    span = by_id(retried, cause.span_id)
    assert span.name == "UPDATE" and span.start_time_ns == traces.BASE_NS + 205 * MS
    assert (cause.service, cause.label) == ("orders-worker", "UPDATE orders_order")
    assert cause.statement == traces.UPDATE_CONFIRMATION
    assert (cause.exception_type, cause.exception_message) == ("sqlite3.OperationalError", "interrupted")
    assert (cause.task, cause.attempt, cause.attempts) == ("orders.finalize_order", 1, 3)
    assert cause.fault == "order_db_timeout"
    assert cause.repeated_on == (2, 3)


def test_the_worker_timeout_stops_at_the_publish_then_retries_and_compensation_follow(retried):
    """The path climbs from the statement to the attempt and stops there: the publish that
    started the task ended ok, so the asynchronous failure never reached the checkout; after
    it come attempts 2 and 3, the compensation and what it undid."""
    spread = analyze(retried.spans).propagation
    assert [s.name for s in spread.path] == ["UPDATE", "run/orders.finalize_order"]
    assert spread.path[1].what.startswith("attempt 1: ERROR django.db.utils.OperationalError")
    assert [s.what for s in spread.after] == [
        "retried: attempt 2 failed at UPDATE orders_order: sqlite3.OperationalError: interrupted "
        "(fault order_db_timeout)",
        "retried: attempt 3 failed at UPDATE orders_order: sqlite3.OperationalError: interrupted "
        "(fault order_db_timeout)",
        "compensation ran",
        "payment voided",
        "stock released",
        "order failed",
    ]


def test_a_task_that_gave_up_after_its_only_attempt_says_attempt_once():
    """No retries configured: one attempt, then compensation, in proper English."""
    diagnosis = analyze(traces.retried_db_timeouts(attempts=1).spans)
    assert diagnosis.outcome[0] == "gave up after 1 attempt"
    assert "1 attempts" not in summary_line(diagnosis)


def test_an_undo_done_by_payments_and_inventorys_workers_follows_the_compensation():
    """The undo steps are the payments and inventory workers' runs, the order fails in the
    orders run that took the second report, and the outcome reads as with the REST undo."""
    diagnosis = analyze(traces.undone_by_workers().spans)
    after = [(s.service, s.what) for s in diagnosis.propagation.after]
    assert after[-4:] == [
        ("orders-worker", "compensation ran"),
        ("payments-worker", "payment voided"),
        ("inventory-worker", "stock released"),
        ("orders-worker", "order failed"),
    ]
    assert diagnosis.outcome == (
        "gave up after 3 attempts",
        "compensated: payment voided, stock released",
        "order failed",
    )


def test_a_refund_by_payments_worker_is_named_from_its_run():
    after = [s.what for s in analyze(traces.undone_by_workers(payment="refunded").spans).propagation.after]
    assert "payment refunded" in after


def test_a_commit_refused_in_inventorys_worker_is_named_with_the_compensation_that_followed():
    """The confirmation's commit failed for good in inventory's worker: the diagnosis names
    that run, and follows the compensation its report queued (the capture refunded)."""
    diagnosis = analyze(traces.confirmed_by_workers(commit="failed").spans)
    assert diagnosis.verdict is not None
    assert diagnosis.verdict.service == "inventory-worker"
    assert diagnosis.verdict.operation == "run/inventory.commit_reservation"
    assert diagnosis.outcome[-2:] == ("compensated: payment refunded, stock released", "order failed")


def test_timeouts_on_retries_on_sqlite_recommend_sqlite_fixes_and_a_circuit_breaker(retried):
    """The same statement timing out on three attempts: retries do not help. The trace ran
    on SQLite, which has no connection pool: the advice says so, and speaks of its busy
    timeout and write lock instead of pool sizes."""
    diagnosis = analyze(retried.spans)
    [rec] = diagnosis.recommendations
    assert diagnosis.engine == "sqlite"
    assert rec.kind == "db_timeout_on_retries"
    assert "attempts 1-3 of orders.finalize_order" in rec.evidence and "order_db_timeout" in rec.evidence
    assert "SQLite has no connection pool" in rec.advice and "pool size" not in rec.advice
    assert "busy timeout" in rec.advice and "circuit breaker" in rec.advice
    assert len(rec.span_ids) == 3


def test_the_summary_line_names_the_cause_the_attempts_and_the_undo(retried):
    """One line for the admin: service, statement, driver error, attempt, fault, outcome."""
    assert summary_line(analyze(retried.spans)) == (
        "orders-worker: UPDATE orders_order failed with sqlite3.OperationalError: interrupted "
        "on attempt 1 of orders.finalize_order (fault order_db_timeout), again on attempts 2-3; "
        "gave up after 3 attempts; compensated: payment voided, stock released; order failed"
    )


def test_the_diagnosis_serialises_to_json_with_its_summary(retried):
    """``to_dict`` is plain JSON: the command's ``--json`` and the viewer use it."""
    data = json.loads(json.dumps(analyze(retried.spans).to_dict()))
    assert data["root_cause"]["attempt"] == 1 and data["bottleneck"] == "orders-worker"
    assert data["summary"].startswith("orders-worker: UPDATE orders_order failed")
    assert {"path", "after"} <= data["propagation"].keys()
    assert abs(sum(s["share"] for s in data["services"]) - 1) < 1e-9


# -- a different failure first, the database timeout only on attempt 3 ---------------------


def test_when_only_the_third_attempt_times_out_the_root_cause_is_the_first_failure():
    """Attempts 1-2 cannot reach payments, attempt 3 times out in the database. By the
    definition (earliest, deepest error) the root cause is attempt 1's refused call; the
    timeout shows in what followed and gets its own, one-off recommendation."""
    diagnosis = analyze(traces.unreachable_then_db_timeout().spans)
    cause = diagnosis.root_cause
    assert cause is not None
    assert cause.exception_type == "requests.exceptions.ConnectionError"
    assert cause.label.startswith("POST http://127.0.0.1:9/api/payments/payments/")
    assert (cause.attempt, cause.attempts, cause.fault, cause.repeated_on) == (
        1,
        3,
        "payments_unreachable",
        (2,),
    )
    assert cause.statement is None
    assert diagnosis.propagation.after[1].what == (
        "retried: attempt 3 failed at UPDATE orders_order: sqlite3.OperationalError: interrupted "
        "(fault order_db_timeout)"
    )
    assert kinds(diagnosis) == ["db_timeout", "dependency_failing_on_retries"]
    assert "on attempt 3 of orders.finalize_order" in diagnosis.recommendations[0].evidence
    assert "on attempts 1-2" in diagnosis.recommendations[1].evidence


def test_a_retry_that_succeeds_is_reported_as_recovered():
    """A timeout on attempt 1 and a clean attempt 2: recovered, no compensation."""
    trace = TraceBuilder()
    first = traces.db_timeout_attempt(trace, traces.checkout(trace), 1, start=200)
    traces.run(
        trace, traces.publish(trace, first, "orders.finalize_order", start=510), "orders.finalize_order", 2,
        start=700, ms=40,
    )  # fmt: skip
    diagnosis = analyze(trace.spans)
    cause = diagnosis.root_cause
    assert cause is not None
    assert cause.attempt == 1 and diagnosis.outcome == ("recovered on attempt 2",)
    assert [s.what for s in diagnosis.propagation.after] == ["retried: attempt 2 succeeded"]
    assert kinds(diagnosis) == ["db_timeout"]


def test_an_error_the_code_tolerated_yields_to_the_one_that_changed_the_orders_course():
    """Redis is down: the checkout throttle's cache read fails first and is let through
    (its span says so), then the publish of finalize fails the same way. The publish is
    the root cause; without the tolerated mark the earlier cache read would be."""
    refused = ("redis.exceptions.ConnectionError", "Error 111 connecting. Connection refused.")

    def diagnose(tolerated: bool) -> str:
        trace = TraceBuilder()
        request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=280, kind="SERVER")
        throttle = trace.span(
            names.CHECKOUT_THROTTLE_SPAN, service="shop", start=5, ms=2, parent=request,
            attributes={attributes.TOLERATED: "checkout let through"} if tolerated else {},
        )  # fmt: skip
        trace.span("GET", service="shop", start=5.5, ms=1, parent=throttle, kind="CLIENT", error=refused)
        place = trace.call(request, "api/orders/<uuid:order_id>/place/", service="orders", start=100, ms=80)
        trace.span(
            f"apply_async/{names.FINALIZE_ORDER_TASK}", service="orders", start=170, ms=1, parent=place,
            kind="PRODUCER", error=refused,
        )  # fmt: skip
        cause = analyze(trace.spans).root_cause
        assert cause is not None
        return cause.name

    assert diagnose(tolerated=True) == f"apply_async/{names.FINALIZE_ORDER_TASK}"
    assert diagnose(tolerated=False) == "GET"


# -- a refusal undone inside the request --------------------------------------------------


def test_a_declined_card_is_undone_by_the_checkout_with_no_payment_to_void():
    """The authorisation answers 402 (the requests instrumentor marks the call ERROR); the
    checkout fails the order through orders' fail API, which releases the stock; the
    payments cancel finds no authorisation to void, and the checkout answers 402."""
    trace = TraceBuilder()
    request = trace.span(
        "POST api/shop/checkout/",
        service="shop",
        start=0,
        ms=120,
        kind="SERVER",
        attributes={"http.status_code": 402},
    )
    step = trace.span("checkout", service="shop", start=5, ms=110, parent=request)
    trace.call(step, "api/inventory/reservations/", service="inventory", start=6, ms=3)
    url = "http://127.0.0.1:8000/api/payments/authorizations/"
    call = trace.span(
        "POST",
        service="shop",
        start=10,
        ms=20,
        parent=step,
        kind="CLIENT",
        attributes={"http.url": url, "http.status_code": 402},
        status="ERROR",
    )
    trace.span(
        "POST api/payments/authorizations/",
        service="payments",
        start=12,
        ms=15,
        parent=call,
        kind="SERVER",
        attributes={"http.status_code": 402},
    )
    fail = trace.call(
        step,
        "api/orders/<uuid:order_id>/fail/",
        f"api/orders/{traces.ORDER_ID}/fail/",
        service="orders",
        start=40,
        ms=60,
    )
    cancel = f"api/payments/payments/{traces.ORDER_ID}/cancel/"
    trace.call(
        fail, "api/payments/payments/<uuid:order_id>/cancel/", cancel, service="payments", start=45, ms=10
    )
    release = "api/inventory/reservations/<uuid:order_id>/release/"
    released = {attributes.UNDO_OUTCOME: "released"}
    trace.call(fail, release, release, service="inventory", start=60, ms=10, attributes=released)
    diagnosis = analyze(trace.spans)
    cause = diagnosis.root_cause
    assert cause is not None
    assert cause.label == f"POST {url}" and cause.exception_type == "HTTP 402"
    assert cause.attempt is None
    assert summary_line(diagnosis) == (
        f"shop: POST {url} failed with HTTP 402; compensated: no payment to void, stock released; "
        "order failed; POST api/shop/checkout/ answered 402"
    )


@pytest.mark.parametrize("release_outcome", ["none", None])
def test_a_shed_reservation_reserved_nothing_so_its_undo_released_nothing(release_outcome):
    """The outcome names only what happened: inventory's release says it found nothing
    (``none``), or, in a trace without that, no reservation was ever answered."""
    diagnosis = analyze(traces.shed_reservation(release_outcome).spans)
    assert "compensated: no payment to void, no stock to release" in diagnosis.outcome
    assert not any("stock released" in phrase for phrase in diagnosis.outcome)


def test_a_release_that_gave_units_back_says_stock_released():
    diagnosis = analyze(traces.shed_reservation("released").spans)
    assert "compensated: no payment to void, stock released" in diagnosis.outcome


# -- a slow gateway ------------------------------------------------------------------------


def test_a_slow_capture_makes_payments_the_bottleneck_and_a_slow_leaf():
    """The capture's server span runs 2 s of a 2.3 s trace with no child span: payments
    holds most of the self time, and the recommendation points at that span's external call."""
    trace = traces.slow_gateway()
    diagnosis = analyze(trace.spans)
    assert diagnosis.root_cause is None and diagnosis.propagation.path == ()
    assert diagnosis.bottleneck == "payments" and diagnosis.services[0].service == "payments"
    [rec] = diagnosis.recommendations
    assert rec.kind == "slow_leaf"
    assert by_id(trace, rec.span_ids[0]).name == "POST api/payments/payments/<uuid:order_id>/capture/"
    assert "2000 ms" in rec.evidence and "external call" in rec.advice
    assert summary_line(diagnosis) == (
        "no error in the trace; most time in payments (85%); slow_leaf: "
        "POST api/payments/payments/<uuid:order_id>/capture/ on payments spent 2000 ms of the "
        "trace's 2300 ms with no child span"
    )


# -- an N+1 query --------------------------------------------------------------------------


def test_twenty_selects_differing_only_in_the_id_are_an_n_plus_one():
    """One request issues the same SELECT for ids 1..20: one recommendation naming all 20."""
    trace = traces.n_plus_one(queries=20)
    [rec] = analyze(trace.spans).recommendations
    assert rec.kind == "n_plus_one" and len(rec.span_ids) == 20
    assert rec.evidence.startswith("20 near-identical statements in GET api/shop/products/ (shop)")
    assert '"inventory_stockitem"."id" = ?' in rec.evidence
    assert "prefetch_related" in rec.advice


def test_the_same_n_plus_one_in_many_batches_is_one_recommendation_with_its_count():
    """An import of 20 batches doing the same INSERT per row (99 each): one recommendation
    saying how many places, not 20 near-identical ones; it cites every statement."""
    trace = traces.bulk_import(batches=20, rows=99)
    [rec] = [rec for rec in analyze(trace.spans).recommendations if rec.kind == "n_plus_one"]
    assert rec.evidence.startswith(
        "N+1 queries in 20 places: 1980 near-identical statements (99 in each) in import batch 1, "
        'import batch 2, import batch 3 and 17 more (shop): INSERT INTO "shop_product"'
    )
    assert len(rec.span_ids) == 1980
    assert "bulk_create" in rec.advice


def test_places_of_one_name_are_counted_and_other_statements_stay_apart():
    """Three runs of one task, each reading its rows one by one (5, 6 and 7 times), and one
    of them also writing row by row: the reads are one recommendation over three places,
    the writes another."""
    trace = TraceBuilder()
    request = trace.span("POST api/orders/sync/", service="orders", start=0, ms=100, kind="SERVER")
    for run, rows in enumerate((5, 6, 7)):
        at = 1 + run * 30
        task = trace.span("run/orders.sync", service="orders-worker", start=at, ms=25, parent=request)
        for row in range(rows):
            trace.statement(task, f'SELECT "x"."id" FROM "x" WHERE "x"."id" = {row}', start=at + 1 + row)
        if run == 2:
            for row in range(5):
                trace.statement(task, f'UPDATE "x" SET "n" = {row} WHERE "x"."id" = {row}', start=at + 19)
    reads, writes = [rec for rec in analyze(trace.spans).recommendations if rec.kind == "n_plus_one"]
    assert reads.evidence.startswith(
        "N+1 queries in 3 places: 18 near-identical statements (5 to 7 in each) "
        "in run/orders.sync (3 times) (orders-worker): SELECT"
    )
    assert len(reads.span_ids) == 18
    assert writes.evidence.startswith(
        "5 near-identical statements in run/orders.sync (orders-worker): UPDATE"
    )


def test_four_repeats_are_not_yet_an_n_plus_one():
    """Below N_PLUS_ONE_MIN (5) identical statements nothing is recommended."""
    assert analyze(traces.n_plus_one(queries=4).spans).recommendations == ()


def test_a_repeated_read_folded_into_its_parent_is_an_n_plus_one_too():
    """Fast reads are counted on their parent, not exported (instrumentation/statements.py):
    the parent's summary names the statement repeated most, and that is enough."""
    trace = TraceBuilder()
    request = trace.span(
        "GET api/shop/products/",
        service="shop",
        start=0,
        ms=60,
        kind="SERVER",
        attributes={
            "db.summary.count": 21,
            "db.summary.duration_ms": 8.5,
            "db.summary.top_statement": 'SELECT "inventory_stockitem"."available" FROM "inventory_stockitem" '
            'WHERE "inventory_stockitem"."id" = ? LIMIT 21',
            "db.summary.top_count": 20,
        },
    )
    [rec] = analyze(trace.spans).recommendations
    assert rec.kind == "n_plus_one" and rec.span_ids == (request.span_id,)
    assert rec.evidence.startswith("20 near-identical statements in GET api/shop/products/ (shop)")


def test_an_n_plus_one_of_a_wide_model_shows_its_filter_not_its_columns():
    """Django names every column; the evidence folds the column list so the table and the
    filter (what the repeats differ in) stay in its 160 characters."""
    columns = ", ".join(f'"shop_product"."column_{n}"' for n in range(12))
    trace = TraceBuilder()
    trace.span(
        "GET product-list",
        service="shop",
        start=0,
        ms=60,
        kind="SERVER",
        attributes={
            "db.summary.top_statement": f'SELECT {columns} FROM "shop_product" '
            'WHERE "shop_product"."id" = ? LIMIT 21',
            "db.summary.top_count": 8,
        },
    )
    [rec] = analyze(trace.spans).recommendations
    assert rec.evidence.endswith('SELECT … FROM "shop_product" WHERE "shop_product"."id" = ? LIMIT ?')


@pytest.mark.parametrize(
    ("system", "says", "never"),
    [("sqlite", "EXPLAIN QUERY PLAN", "pg_locks"), ("postgresql", "pg_locks", "SQLite")],
)
def test_a_slow_statement_is_advised_for_the_engine_it_ran_on(system, says, never):
    trace = TraceBuilder()
    request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=2100, kind="SERVER")
    trace.statement(
        request,
        'SELECT "shop_product"."id" FROM "shop_product"',
        start=1,
        ms=2000,
        attributes={"db.system": system},
    )
    [rec] = [r for r in analyze(trace.spans).recommendations if r.kind == "slow_leaf"]
    assert says in rec.advice and never not in rec.advice


FOLDED_READS = {
    "db.summary.count": 7,
    "db.summary.duration_ms": 2.25,
    "db.summary.top_statement": 'SELECT "orders_order"."id" FROM "orders_order" WHERE id = ?',
    "db.summary.top_count": 3,
}
FOLDED_WRITES = {
    "db.summary.count": 5,
    "db.summary.duration_ms": 1.5,
    "db.summary.top_statement": "BEGIN",
    "db.summary.top_count": 1,
    "db.summary.writes": ["UPDATE orders_order", "INSERT orders_orderevent ×2"],
}


@pytest.mark.parametrize(
    ("summary", "said"),
    [
        (FOLDED_READS, "7 statements, 2.2 ms (SELECT orders_order ×3)"),
        (FOLDED_WRITES, "5 statements, 1.5 ms; wrote UPDATE orders_order, INSERT orders_orderevent ×2"),
        ({"db.summary.count": 1, "db.summary.duration_ms": 0.1}, "1 statement, 0.1 ms"),
        ({"db.summary.count": 2, "db.summary.writes": "UPDATE x"}, "2 statements, 0.0 ms; wrote UPDATE x"),
    ],
    ids=["the read repeated most", "the tables written", "one statement", "writes not a list (an upload)"],
)
def test_a_span_says_what_statements_were_folded_into_it(summary, said):
    trace = TraceBuilder()
    span = trace.span("run/orders.record_step", service="orders-worker", start=0, ms=30, attributes=summary)
    assert note(span) == said


def test_statements_are_normalised_to_their_shape():
    """Literals, numbers, parameters and IN lists become ``?``; whitespace collapses."""
    assert normalize_statement("SELECT * FROM t WHERE id = 42 AND sku = 'A''B'") == (
        "SELECT * FROM t WHERE id = ? AND sku = ?"
    )
    assert normalize_statement("SELECT *\n  FROM t WHERE id IN (1, 2, 3) AND x = %s") == (
        "SELECT * FROM t WHERE id IN (?) AND x = ?"
    )
    assert normalize_statement("SELECT * FROM t WHERE id = $1") == normalize_statement(
        "SELECT * FROM t WHERE id = :id"
    )


def test_an_empty_trace_has_an_empty_diagnosis():
    """No spans: nothing to blame, nothing to recommend."""
    diagnosis = analyze([])
    assert diagnosis.root_cause is None and diagnosis.services == () and diagnosis.recommendations == ()
    assert summary_line(diagnosis) == "no error in the trace"
