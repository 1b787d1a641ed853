"""ExportFilter: which statement spans are exported, and what their parent says of the rest;
``fold_before_span``: the statements the DB-API instrumentation never makes spans of."""

from __future__ import annotations

import sqlite3
import time

import pytest
from opentelemetry.instrumentation import dbapi
from opentelemetry.instrumentation.dbapi import CursorTracer
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import attributes, statements
from instrumentation.statements import HELD_PER_PARENT, ExportFilter, fold_before_span


def provider_exporting(summarise: bool = True, slow_ms: float = 20.0, sampler=None):
    exported = InMemorySpanExporter()
    provider = TracerProvider(**({"sampler": sampler} if sampler else {}))
    provider.add_span_processor(
        ExportFilter([SimpleSpanProcessor(exported)], summarise=summarise, slow_ms=slow_ms)
    )
    return provider, exported


def tracing(summarise: bool = True, slow_ms: float = 20.0, sampler=None):
    provider, exported = provider_exporting(summarise, slow_ms, sampler)
    return provider.get_tracer(__name__), exported


def statement(tracer, sql: str, *, system: str = "sqlite", fail: bool = False, sleep_s: float = 0.0):
    verb = sql.split()[0]
    with tracer.start_as_current_span(verb, kind=SpanKind.CLIENT, record_exception=False) as span:
        span.set_attributes({"db.system": system, "db.statement": sql})
        if sleep_s:
            time.sleep(sleep_s)
        if fail:
            span.set_status(Status(StatusCode.ERROR, "interrupted"))


def names(exported) -> list[str]:
    return [span.name for span in exported.get_finished_spans()]


def test_fast_reads_and_transaction_control_are_counted_on_their_parent_not_exported():
    tracer, exported = tracing()
    with tracer.start_as_current_span("POST api/shop/checkout/", kind=SpanKind.SERVER):
        statement(tracer, "BEGIN")
        for _ in range(3):
            statement(tracer, 'SELECT "shop_product"."sku" FROM "shop_product" WHERE "sku" = ?')
        statement(tracer, "COMMIT")

    [request] = exported.get_finished_spans()
    assert request.attributes[attributes.DB_SUMMARY_COUNT] == 5
    assert request.attributes[attributes.DB_SUMMARY_TOP_COUNT] == 3
    assert request.attributes[attributes.DB_SUMMARY_TOP_STATEMENT].startswith('SELECT "shop_product"')
    assert request.attributes[attributes.DB_SUMMARY_DURATION_MS] >= 0


def test_fast_writes_are_counted_on_their_parent_which_names_the_tables_written():
    tracer, exported = tracing()
    with tracer.start_as_current_span("run/orders.record_step", kind=SpanKind.CONSUMER):
        statement(tracer, "BEGIN")
        statement(tracer, 'UPDATE "orders_order" SET "status" = ? WHERE "id" = ?', system="postgresql")
        statement(tracer, 'INSERT INTO "orders_orderevent" ("kind") VALUES (?)')
        statement(tracer, 'INSERT INTO "orders_orderevent" ("kind") VALUES (?)')
        statement(tracer, 'DELETE FROM "core_outboxmessage" WHERE "id" = ?')
        statement(tracer, "COMMIT")

    [run] = exported.get_finished_spans()
    assert run.attributes[attributes.DB_SUMMARY_COUNT] == 6
    assert run.attributes[attributes.DB_SUMMARY_WRITES] == (
        "UPDATE orders_order",
        "INSERT orders_orderevent ×2",
        "DELETE core_outboxmessage",
    )
    # A repeated write is the top statement like a repeated read: an N+1 of writes shows.
    assert run.attributes[attributes.DB_SUMMARY_TOP_STATEMENT].startswith('INSERT INTO "orders_orderevent"')
    assert run.attributes[attributes.DB_SUMMARY_TOP_COUNT] == 2


def test_a_parent_of_reads_only_names_no_writes():
    tracer, exported = tracing()
    with tracer.start_as_current_span("GET /"):
        statement(tracer, "SELECT 1")
    assert attributes.DB_SUMMARY_WRITES not in exported.get_finished_spans()[0].attributes


def test_a_slow_write_keeps_its_span():
    tracer, exported = tracing(slow_ms=200.0)
    with tracer.start_as_current_span("run/orders.finalize_order", kind=SpanKind.CONSUMER):
        statement(tracer, 'UPDATE "orders_order" SET x = ?', sleep_s=0.3)  # a row-lock wait
    assert names(exported) == ["UPDATE", "run/orders.finalize_order"]
    assert attributes.DB_SUMMARY_WRITES not in exported.get_finished_spans()[1].attributes


@pytest.mark.parametrize("sql", ["SELECT 1", 'UPDATE "orders_order" SET x = ?'])
def test_a_failed_statement_keeps_its_span(sql):
    tracer, exported = tracing()
    with tracer.start_as_current_span("run/orders.finalize_order"):
        statement(tracer, sql, fail=True)
    assert names(exported) == [sql.split()[0], "run/orders.finalize_order"]


def test_a_slow_statement_keeps_its_span():
    # 200 ms and a 300 ms wait: an unslept COMMIT stays under the line on a loaded CI machine
    # (with 1 ms and 5 ms, it did not).
    tracer, exported = tracing(slow_ms=200.0)
    with tracer.start_as_current_span("POST api/payments/authorize/"):
        statement(tracer, "BEGIN", sleep_s=0.3)  # a lock wait
        statement(tracer, "COMMIT")
    assert names(exported) == ["BEGIN", "POST api/payments/authorize/"]
    assert exported.get_finished_spans()[1].attributes[attributes.DB_SUMMARY_COUNT] == 1


def test_a_statement_without_an_open_parent_in_this_process_is_exported():
    tracer, exported = tracing()
    statement(tracer, "SELECT 1")
    assert names(exported) == ["SELECT"]


def test_redis_calls_are_not_statements():
    tracer, exported = tracing()
    with tracer.start_as_current_span("run/orders.finalize_order"):
        statement(tracer, "SELECT 1", system="redis")
    assert names(exported) == ["SELECT", "run/orders.finalize_order"]


def test_with_summarising_off_every_statement_is_exported():
    tracer, exported = tracing(summarise=False)
    with tracer.start_as_current_span("GET /"):
        statement(tracer, "BEGIN")
        statement(tracer, "SELECT 1")
    assert names(exported) == ["BEGIN", "SELECT", "GET /"]
    assert attributes.DB_SUMMARY_COUNT not in exported.get_finished_spans()[-1].attributes


@pytest.mark.parametrize("summarise", [True, False])
def test_the_debug_quote_select_is_never_exported_nor_counted(summarise):
    tracer, exported = tracing(summarise=summarise)
    with tracer.start_as_current_span("GET /"):
        statement(tracer, "SELECT QUOTE(?)")
    [request] = exported.get_finished_spans()
    assert attributes.DB_SUMMARY_COUNT not in request.attributes


def test_unsampled_spans_are_left_alone():
    tracer, exported = tracing(sampler=ALWAYS_OFF)
    with tracer.start_as_current_span("GET /"):
        statement(tracer, "SELECT 1")
    assert names(exported) == []


def test_each_parent_counts_only_its_own_statements():
    tracer, exported = tracing()
    with tracer.start_as_current_span("run/orders.finalize_order"):
        statement(tracer, "SELECT 1")
        with tracer.start_as_current_span("POST api/inventory/commit/", kind=SpanKind.CLIENT):
            statement(tracer, "SELECT 2")
            statement(tracer, "SELECT 2")
    spans = exported.get_finished_spans()
    counts = {span.name: span.attributes[attributes.DB_SUMMARY_COUNT] for span in spans}
    assert counts == {"POST api/inventory/commit/": 2, "run/orders.finalize_order": 1}


def test_a_flush_while_the_parent_is_open_exports_its_last_folded_statements():
    """A run about to be killed flushes: what it did so far leaves as statement spans (its
    own span never will), the last HELD_PER_PARENT of them."""
    provider, exported = provider_exporting()
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("run/payments.capture_payment", kind=SpanKind.CONSUMER):
        for number in range(HELD_PER_PARENT + 3):
            statement(tracer, f'UPDATE "payments_payment" SET "status" = ? WHERE "id" = {number}')
        assert names(exported) == []
        provider.force_flush()
        flushed = [str(span.attributes["db.statement"]) for span in exported.get_finished_spans()]
        assert len(flushed) == HELD_PER_PARENT and flushed[-1].endswith(f"= {HELD_PER_PARENT + 2}")
    # Let go once flushed: the run's end exports the run alone.
    assert names(exported)[HELD_PER_PARENT:] == ["run/payments.capture_payment"]


def test_statements_held_for_a_parent_are_let_go_when_it_ends():
    provider, exported = provider_exporting()
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("run/orders.record_step", kind=SpanKind.CONSUMER):
        statement(tracer, 'INSERT INTO "orders_orderevent" ("kind") VALUES (?)')
    provider.force_flush()
    assert names(exported) == ["run/orders.record_step"]


def test_transaction_control_is_counted_but_never_the_top_statement():
    """Six transactions around five identical reads: the reads are the repeat to name (an
    N+1 hides behind BEGIN x6 otherwise); a span of transaction control alone names none."""
    tracer, exported = tracing()
    with tracer.start_as_current_span("run/orders.reconcile", kind=SpanKind.CONSUMER):
        for number in range(6):
            statement(tracer, "BEGIN")
            if number:
                statement(tracer, 'SELECT "orders_order"."id" FROM "orders_order" WHERE "id" = ?')
            statement(tracer, "COMMIT")
    with tracer.start_as_current_span("GET /"):
        statement(tracer, "BEGIN")
        statement(tracer, "COMMIT")

    run, request = exported.get_finished_spans()
    assert run.attributes[attributes.DB_SUMMARY_COUNT] == 17
    assert run.attributes[attributes.DB_SUMMARY_TOP_STATEMENT].startswith('SELECT "orders_order"')
    assert run.attributes[attributes.DB_SUMMARY_TOP_COUNT] == 5
    assert request.attributes[attributes.DB_SUMMARY_COUNT] == 2
    assert attributes.DB_SUMMARY_TOP_STATEMENT not in request.attributes


class StartedNames(SpanProcessor):
    """The name of every span started: a statement folded before it was a span has none."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_start(self, span, parent_context=None) -> None:
        self.names.append(span.name)


@pytest.fixture
def database(monkeypatch):
    """A SQLite connection through the DB-API instrumentation, its statements folded before
    they are spans (``fold_before_span``) by an ExportFilter of its own: (tracer, connection,
    started, provider, exported). The process's own filter is put back afterwards."""
    monkeypatch.setattr(statements, "_folding", statements._folding)
    monkeypatch.setattr(CursorTracer, "traced_execution", CursorTracer.traced_execution)
    started, exported = StartedNames(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(started)
    export_filter = ExportFilter([SimpleSpanProcessor(exported)], summarise=True, slow_ms=200.0)
    provider.add_span_processor(export_filter)
    fold_before_span(export_filter)
    # The session's own instrumentation wraps sqlite3.connect: this connection is the test's.
    raw = getattr(sqlite3.connect, "__wrapped__", sqlite3.connect)(":memory:")
    raw.create_function("sleep", 1, time.sleep)
    connection = dbapi.instrument_connection(__name__, raw, "sqlite", tracer_provider=provider)
    connection.execute("CREATE TABLE orders_order (id INTEGER PRIMARY KEY, status TEXT)")
    started.names.clear()
    exported.clear()
    yield provider.get_tracer(__name__), connection, started, provider, exported
    raw.close()


def test_a_fast_statement_under_an_open_parent_is_never_made_a_span(database):
    tracer, connection, started, _, exported = database
    with tracer.start_as_current_span("run/orders.record_step", kind=SpanKind.CONSUMER):
        cursor = connection.cursor()
        cursor.execute('INSERT INTO "orders_order" ("status") VALUES (?)', ("created",))
        cursor.execute('SELECT "status" FROM "orders_order" WHERE "id" = ?', (1,))
        assert cursor.fetchall() == [("created",)]  # the statement ran, and returned its rows

    assert started.names == ["run/orders.record_step"]
    [run] = exported.get_finished_spans()
    assert run.attributes[attributes.DB_SUMMARY_COUNT] == 2
    assert run.attributes[attributes.DB_SUMMARY_WRITES] == ("INSERT orders_order",)


def test_a_failed_statement_is_made_its_span_with_the_error(database):
    tracer, connection, _, _, exported = database
    with tracer.start_as_current_span("run/orders.finalize_order") as run:
        with pytest.raises(sqlite3.OperationalError):
            connection.cursor().execute('SELECT "id" FROM "orders_missing"')

    failed, parent = exported.get_finished_spans()
    assert (failed.name, failed.kind, failed.parent.span_id) == (
        "SELECT",
        SpanKind.CLIENT,
        run.context.span_id,
    )
    assert failed.attributes["db.statement"] == 'SELECT "id" FROM "orders_missing"'
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description.startswith("OperationalError: no such table")
    assert [event.name for event in failed.events] == ["exception"]
    assert attributes.DB_SUMMARY_COUNT not in parent.attributes


def test_a_slow_statement_is_made_its_span_from_its_real_start(database):
    tracer, connection, _, _, exported = database
    with tracer.start_as_current_span("POST api/payments/authorize/"):
        before = time.time_ns()
        connection.cursor().execute("SELECT sleep(0.3)")  # slower than the 200 ms line

    slow, _ = exported.get_finished_spans()
    assert slow.name == "SELECT" and slow.start_time >= before
    assert slow.end_time - slow.start_time >= 300_000_000


def test_a_statement_without_an_open_parent_takes_the_instrumentations_own_path(database):
    _, connection, started, _, exported = database
    connection.cursor().execute("SELECT 1")
    assert started.names == ["SELECT"] and [span.name for span in exported.get_finished_spans()] == ["SELECT"]


def test_a_flush_makes_spans_of_the_statements_held_for_an_open_parent(database):
    """A run about to be killed flushes: its statements, never spans until now, leave as
    the spans they would have been, under the run, counted once."""
    tracer, connection, _, provider, exported = database
    with tracer.start_as_current_span("run/payments.capture_payment", kind=SpanKind.CONSUMER) as run:
        connection.cursor().execute('UPDATE "orders_order" SET "status" = ?', ("paid",))
        provider.force_flush()
        [held] = exported.get_finished_spans()
        assert (held.name, held.attributes["db.statement"]) == (
            "UPDATE",
            'UPDATE "orders_order" SET "status" = ?',
        )
        assert held.parent.span_id == run.context.span_id and held.context.trace_id == run.context.trace_id
    assert exported.get_finished_spans()[-1].attributes[attributes.DB_SUMMARY_COUNT] == 1
