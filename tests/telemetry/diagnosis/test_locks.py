"""Lock waits read from the trace: a slow BEGIN is a wait for SQLite's write lock, named
with its holder when the trace holds it; on PostgreSQL a slow write beside another
process's write to the same table is a row-lock wait; the advice fits the engine."""

from __future__ import annotations

from synthetic import builders as traces
from synthetic.builders import TraceBuilder
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.text import summary_line

STALLED_UPDATE = 'UPDATE "orders_order" SET "confirmation_code" = %s WHERE "orders_order"."id" = %s'


def contended(system: str = "sqlite") -> TraceBuilder:
    """The worker's first attempt stalls its UPDATE for 1.6 s (holding the write lock);
    meanwhile the shop's capture call reaches payments, whose BEGIN waits 1.4 s."""
    trace = TraceBuilder()
    publish = traces.checkout(trace)
    run = traces.run(
        trace,
        publish,
        "orders.finalize_order",
        1,
        start=200,
        ms=1700,
        fault="order_db_timeout",
        error=traces.DJANGO_DB_TIMEOUT,
    )
    trace.statement(
        run, STALLED_UPDATE, start=205, ms=1600, error=traces.DB_TIMEOUT, attributes={"db.system": system}
    )
    capture = trace.call(
        publish, "api/payments/payments/<uuid:order_id>/capture/", service="payments", start=300, ms=1450
    )
    trace.statement(capture, "BEGIN IMMEDIATE", start=305, ms=1400, attributes={"db.system": system})
    return trace


def test_a_slow_begin_is_lock_contention_naming_the_workers_stalled_update():
    diagnosis = analyze(contended().spans)
    kinds = [rec.kind for rec in diagnosis.recommendations]
    assert "lock_contention" in kinds and "slow_leaf" not in kinds
    [lock] = [rec for rec in diagnosis.recommendations if rec.kind == "lock_contention"]
    assert lock.evidence.startswith("BEGIN on payments waited 1400 ms for the database's write lock")
    assert "held by orders-worker's UPDATE orders_order" in lock.evidence
    assert "attempt 1 of orders.finalize_order" in lock.evidence and "order_db_timeout" in lock.evidence
    assert "EXPLAIN" not in lock.advice and "one transaction write at a time" in lock.advice
    assert not any("EXPLAIN" in rec.advice for rec in diagnosis.recommendations)


def test_a_wait_whose_holder_is_not_in_the_trace_says_so():
    trace = TraceBuilder()
    request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=900, kind="SERVER")
    trace.statement(request, "BEGIN IMMEDIATE", start=10, ms=800)
    diagnosis = analyze(trace.spans)
    [lock] = diagnosis.recommendations
    assert lock.kind == "lock_contention" and "outside this trace" in lock.evidence
    assert summary_line(diagnosis).startswith("no error in the trace; most time in shop")
    assert "lock_contention: BEGIN on shop waited 800 ms" in summary_line(diagnosis)


def test_a_fast_begin_is_no_lock_wait():
    trace = TraceBuilder()
    request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=100, kind="SERVER")
    trace.statement(request, "BEGIN IMMEDIATE", start=10, ms=2)
    assert [rec.kind for rec in analyze(trace.spans).recommendations] == []


def test_on_postgresql_a_slow_write_beside_another_processs_write_is_a_row_lock_wait():
    trace = TraceBuilder()
    publish = traces.checkout(trace)
    run = traces.run(trace, publish, "orders.finalize_order", 1, start=200, ms=1000)
    pg = {"db.system": "postgresql"}
    trace.statement(run, STALLED_UPDATE, start=205, ms=900, attributes=pg)
    fail = trace.call(publish, "api/orders/<uuid:order_id>/fail/", service="orders", start=300, ms=850)
    trace.statement(fail, 'UPDATE "orders_order" SET "status" = %s', start=310, ms=800, attributes=pg)
    diagnosis = analyze(trace.spans)
    assert diagnosis.engine == "postgresql"
    [lock] = [rec for rec in diagnosis.recommendations if rec.kind == "lock_contention"]
    assert "a row lock" in lock.evidence and "lock_timeout" in lock.advice and "SQLite" not in lock.advice


def test_database_timeout_advice_on_postgresql_speaks_of_its_timeouts_and_pool():
    trace = traces.retried_db_timeouts(attempts=2)
    for span in trace.spans:
        if "db.system" in span.attributes:
            span.attributes["db.system"] = "postgresql"
    diagnosis = analyze(trace.spans)
    [rec] = [r for r in diagnosis.recommendations if r.kind == "db_timeout_on_retries"]
    assert diagnosis.engine == "postgresql"
    assert "statement_timeout" in rec.advice and "connection pool" in rec.advice
    assert "SQLite" not in rec.advice


def test_the_engine_is_the_sql_one_when_redis_calls_outnumber_the_statement_spans():
    """Fast statements are folded into their parents, so an order's Redis calls (each a
    span with a ``db.statement``) can outnumber what is left of its SQL: the engine is still
    the SQL one the advice is for."""
    trace = traces.retried_db_timeouts(attempts=1)
    run = next(span for span in trace.spans if span.name.startswith("run/"))
    for number in range(10):
        trace.statement(run, f"LPUSH queue {number}", start=1, attributes={"db.system": "redis"})
    assert analyze(trace.spans).engine == "sqlite"
