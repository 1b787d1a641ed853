"""Batched inserts (telemetry/store/bulk.py) on the store's write path: each table's rows,
written by one statement run for all of them, are exactly those ``bulk_create`` stores
for the same values, on the engine the suite runs on (JSON, booleans, unicode, conflicts)."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link

from synthetic.builders import Recorder, confirmed_order, failed_order
from telemetry.models import LogRecord, Operation, Span, SpanMetric, TraceAttribute
from telemetry.store.bulk import BulkInsert
from telemetry.store.exporter import (
    LOG_RECORD_INSERT,
    LogRecordRow,
    StoreMetricsExporter,
    StoreSpanExporter,
    span_metric_values,
    span_to_row,
    span_values,
)
from telemetry.store.index import ATTRIBUTE_FIELDS, OPERATION_FIELDS, attribute_pairs

pytestmark = pytest.mark.django_db(databases="__all__")
STORE = "telemetry"


def a_batch() -> list[ReadableSpan]:
    """Two orders' traces (errors, exception events, REST hops, a task) and a span with
    what JSON and search spell differently: an SDK tuple, a bool, a float, unicode, a link."""
    failed, confirmed = Recorder(), Recorder()
    failed_order(failed)
    confirmed_order(confirmed)
    root = failed.finished()[0]
    odd = confirmed.tracer.start_span(
        "odd",
        attributes={"tags": ("a", "b"), "cache.hit": True, "ratio": 0.25, "note": 'Größe ✓ "quoted"'},
        links=[Link(root.context, {"why": "retry"})],
        start_time=confirmed.at(1),
    )
    odd.end(end_time=confirmed.at(2))
    return [*failed.finished(), *confirmed.finished()]


def stored(model) -> list[tuple]:
    """Every row of ``model``'s table as the database holds it (no ORM conversion on the
    way out), ids left out, in a fixed order."""
    connection = connections[STORE]
    columns = [connection.ops.quote_name(f.column) for f in model._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {connection.ops.quote_name(model._meta.db_table)}")
        return sorted(cursor.fetchall(), key=repr)


def written_both_ways(model, orm_write, bulk_write) -> tuple[list, list]:
    orm_write()
    by_orm = stored(model)
    model.objects.all().delete()
    bulk_write()
    return by_orm, stored(model)


def test_spans_exported_are_stored_as_bulk_create_stores_the_same_rows():
    spans = a_batch()
    by_orm, by_exporter = written_both_ways(
        Span,
        lambda: Span.objects.bulk_create([span_to_row(span) for span in spans]),
        lambda: StoreSpanExporter().export(spans),
    )
    assert len(by_orm) == len(spans)
    assert by_exporter == by_orm


def test_metric_rows_are_stored_as_bulk_create_stores_them():
    spans = a_batch()
    by_orm, by_exporter = written_both_ways(
        SpanMetric,
        lambda: SpanMetric.objects.bulk_create(
            [SpanMetric(**span_metric_values(s)._asdict()) for s in spans]
        ),
        lambda: StoreMetricsExporter().export(spans),
    )
    assert len(by_orm) == len(spans)
    assert by_exporter == by_orm


@pytest.mark.parametrize(
    ("model", "fields", "rows"),
    [
        (TraceAttribute, ATTRIBUTE_FIELDS, lambda: sorted(attribute_pairs(map(span_values, a_batch())))),
        (
            Operation,
            OPERATION_FIELDS,
            lambda: sorted({(s.service, s.name, s.kind) for s in map(span_values, a_batch())}),
        ),
    ],
    ids=["trace attributes", "operations"],
)
def test_index_entries_are_stored_as_bulk_create_stores_them(model, fields, rows):
    entries = rows()
    by_orm, by_insert = written_both_ways(
        model,
        lambda: model.objects.bulk_create(
            [model(**dict(zip(fields, entry, strict=True))) for entry in entries]
        ),
        lambda: BulkInsert(model, fields, ignore_conflicts=True).run(entries, using=STORE),
    )
    assert len(by_orm) == len(entries)
    assert by_insert == by_orm


def test_log_records_are_stored_as_bulk_create_stores_them():
    rows = [
        LogRecordRow(
            "a" * 32, "b" * 16, 5, "WARNING", "orders.services", "Größe ✓", {"n": [1, 2.5, None]}, "shop"
        ),
        LogRecordRow("a" * 32, "c" * 16, 6, "ERROR", "payments", "", {}, ""),
    ]
    by_orm, by_insert = written_both_ways(
        LogRecord,
        lambda: LogRecord.objects.bulk_create([LogRecord(**row._asdict()) for row in rows]),
        lambda: LOG_RECORD_INSERT.run(rows, using=STORE),
    )
    assert by_insert == by_orm


def test_a_row_already_stored_is_skipped_where_the_orm_skipped_it():
    """Ignoring conflicts as ``bulk_create(ignore_conflicts=True)``: a metric batch sent
    again adds nothing and raises nothing."""
    spans = a_batch()
    insert = BulkInsert(SpanMetric, [*span_metric_values(spans[0])._fields], ignore_conflicts=True)
    insert.run([span_metric_values(span) for span in spans], using=STORE)
    insert.run([span_metric_values(span) for span in spans], using=STORE)
    assert SpanMetric.objects.count() == len(spans)


def test_a_batch_is_one_statement_per_table_run_for_all_its_rows():
    """The span INSERT is built once and run for the whole batch (``executemany``), not
    compiled by the ORM for each row or chunk of rows."""
    spans = a_batch()
    with CaptureQueriesContext(connections[STORE]) as queries:
        StoreSpanExporter().export(spans)
    span_inserts = [query["sql"] for query in queries if 'INTO "telemetry_span" (' in query["sql"]]
    assert len(span_inserts) == 1
    assert span_inserts[0].startswith(f"{len(spans)} times: ")
