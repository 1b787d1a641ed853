"""The span store's search index (telemetry/index.py): trace summary rows, attribute
entries and operations, written with the spans; and the migration that indexes spans
stored before the index existed."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connections

from synthetic.builders import Recorder, confirmed_order, failed_order
from telemetry.models import Operation, Span, Trace, TraceAttribute
from telemetry.selectors import TraceQuery, trace_search
from telemetry.store.index import attribute_text, save_spans

pytestmark = pytest.mark.django_db(databases="__all__")
ORDER = "0b9a3a4e-3a52-4c69-9b7e-8f1f0f0c0a01"


def test_attribute_values_are_indexed_as_search_spells_them():
    assert [attribute_text(v) for v in (True, False, 500, 0.25, "x", ["a", 1])] == [
        "true",
        "false",
        "500",
        "0.25",
        "x",
        '["a", 1]',
    ]


def test_a_trace_is_indexed_by_its_attributes_services_and_operations():
    """Every distinct pair once per trace; services and operations as entries too."""
    rec = Recorder()
    failed_order(rec, ORDER)
    rows = rec.rows()
    save_spans(rows)
    entries = set(TraceAttribute.objects.filter(trace_id=rec.trace_id).values_list("key", "value"))
    assert ("order.id", ORDER) in entries
    assert ("http.status_code", "200") in entries
    assert (TraceAttribute.SERVICE, "orders-worker") in entries
    assert (TraceAttribute.OPERATION, "orders-worker\trun/orders.finalize_order") in entries
    assert TraceAttribute.objects.filter(trace_id=rec.trace_id, key="order.id").count() == 1
    assert Operation.objects.filter(service="orders-worker", name="run/orders.finalize_order").exists()


def test_a_value_too_long_for_the_index_is_still_found_by_reading_the_spans():
    statement = "SELECT " + ", ".join(f'"column_{n}"' for n in range(60)) + ' FROM "orders_order"'
    assert len(statement) > TraceAttribute.MAX_VALUE
    rec = Recorder()
    rec.span("SELECT", service="orders", start=0, ms=1, attributes={"db.statement": statement})
    save_spans(rec.rows())
    assert not TraceAttribute.objects.filter(key="db.statement").exists()
    found = trace_search(TraceQuery(attributes=(("db.statement", statement),)))
    assert [trace.trace_id for trace in found] == [rec.trace_id]


def test_measurements_are_not_indexed_and_still_found_by_reading_the_spans():
    """A span's CPU time and its folded statements' counts differ on nearly every span: no
    index row each (issue 15), a search for one reads the spans."""
    rec = Recorder()
    measured = {
        "threadline.cpu_ms": 12.5,
        "db.summary.count": 7,
        "db.summary.writes": ["UPDATE orders_order"],
    }
    rec.span("run/orders.record_step", service="orders-worker", start=0, ms=20, attributes=measured)
    save_spans(rec.rows())
    keys = set(TraceAttribute.objects.filter(trace_id=rec.trace_id).values_list("key", flat=True))
    assert {TraceAttribute.SERVICE, TraceAttribute.OPERATION} <= keys and keys.isdisjoint(measured)
    found = trace_search(TraceQuery(attributes=(("threadline.cpu_ms", "12.5"),)))
    assert [trace.trace_id for trace in found] == [rec.trace_id]


def test_the_migration_indexes_spans_stored_before_the_index():
    """Spans written straight into the span table (as before the index) are summarised
    and searchable once the migration's step has run, in chunks of traces."""
    failed, confirmed = Recorder(), Recorder()
    failed_order(failed, ORDER)
    confirmed_order(confirmed)
    Span.objects.bulk_create(failed.rows() + confirmed.rows())
    assert not Trace.objects.exists()

    migration = importlib.import_module("telemetry.migrations.0004_search_index")
    editor = SimpleNamespace(connection=connections[Span.objects.db])
    migration.index_stored_spans(apps, editor)

    summary = Trace.objects.get(trace_id=failed.trace_id)
    assert summary.span_count == len(failed.rows())
    assert summary.error_count == sum(row.status == "ERROR" for row in failed.rows())
    assert summary.root_name == "POST api/shop/checkout/"
    found = trace_search(TraceQuery(attributes=(("order.id", ORDER),)))
    assert [trace.trace_id for trace in found] == [failed.trace_id]
