"""The database seam: ``guarded_update`` is a plain UPDATE until its fault fires; then
that one statement times out with the driver's own error (SQLite's ``interrupted``,
PostgreSQL's ``QueryCanceled``), the span names the fault, and the database is left as
usable as after any failed statement. ``slowed`` makes a query's own statement take the
fault's time in the database; ``row_by_row`` reads as an N+1 does while its fault fires."""

from __future__ import annotations

import sqlite3
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from opentelemetry import trace

from faults.database import guarded_update, row_by_row, slowed
from faults.models import FaultFlag
from instrumentation import attributes

# transaction=True: SQLite's interrupt rolls back the whole transaction, which would take
# the test case's own wrapping transaction with it.
pytestmark = pytest.mark.django_db(transaction=True)

STALL = 0.2


@pytest.fixture
def row(db) -> FaultFlag:
    # Any table will do; a flag name outside the registry is ignored by the fault reads.
    return FaultFlag.objects.create(name="scratch", value=1.0)


def driver_timeout() -> type[Exception]:
    if connection.vendor == "postgresql":
        from psycopg.errors import QueryCanceled

        return QueryCanceled
    return sqlite3.OperationalError


def test_without_a_fault_it_is_a_plain_update(row):
    """No fault named: the rows are updated and their count returned."""
    assert guarded_update(FaultFlag.objects.filter(pk=row.pk), fault=None, value=2.0) == 1
    assert FaultFlag.objects.get(pk=row.pk).value == 2.0


def test_a_fault_that_does_not_fire_is_a_plain_update(row, faults):
    """A named fault at rate 0 changes nothing: the UPDATE runs at full speed."""
    faults({"order_db_timeout": 0.0})
    with transaction.atomic():
        assert guarded_update(FaultFlag.objects.filter(pk=row.pk), fault="order_db_timeout", value=3.0) == 1
    assert FaultFlag.objects.get(pk=row.pk).value == 3.0


def test_a_firing_fault_times_the_statement_out_with_the_drivers_error(row, faults, spans):
    """At rate 1 the UPDATE stalls until the engine's timeout (order_db_stall) stops it:
    the driver's own error, after about the stall, on a span that names the fault."""
    faults({"order_place_db_timeout": 1.0, "order_db_stall": STALL})
    started = time.monotonic()
    with pytest.raises(OperationalError) as timed_out:
        with trace.get_tracer(__name__).start_as_current_span("step"), transaction.atomic():
            guarded_update(FaultFlag.objects.filter(pk=row.pk), fault="order_place_db_timeout", value=4.0)
    assert STALL <= time.monotonic() - started < STALL + 5
    assert isinstance(timed_out.value.__cause__, driver_timeout())
    if connection.vendor == "sqlite":
        assert str(timed_out.value) == "interrupted"
    [step] = [span for span in spans.get_finished_spans() if span.name == "step"]
    assert step.attributes[attributes.FAULT_NAME] == "order_place_db_timeout"
    assert FaultFlag.objects.get(pk=row.pk).value == 1.0


def test_only_the_faulted_statement_fails(row, faults):
    """After the timeout the next transaction writes the same row normally, and a write
    that takes longer than the stall is not cut short: no timeout is left behind."""
    faults({"order_db_timeout": 1.0, "order_db_stall": STALL})
    with pytest.raises(OperationalError), transaction.atomic():
        guarded_update(FaultFlag.objects.filter(pk=row.pk), fault="order_db_timeout", value=5.0)
    faults({"order_db_timeout": 0.0})
    with transaction.atomic():
        assert guarded_update(FaultFlag.objects.filter(pk=row.pk), fault="order_db_timeout", value=6.0)
        time.sleep(STALL * 2)
        assert FaultFlag.objects.filter(pk=row.pk).update(value=7.0) == 1
    assert FaultFlag.objects.get(pk=row.pk).value == 7.0


def test_a_firing_fault_outside_a_transaction_is_refused(row, faults):
    """The timeout is transaction-scoped, so a stalled UPDATE outside one is a bug, said
    loudly before anything stalls."""
    faults({"order_db_timeout": 1.0})
    with pytest.raises(RuntimeError, match="needs a transaction"):
        guarded_update(FaultFlag.objects.filter(pk=row.pk), fault="order_db_timeout", value=8.0)


SLOW_MS = 200


def test_a_slowed_query_takes_the_faults_time_in_the_database(row, faults, spans):
    """catalogue_slow_query=200 ms: the one statement takes at least that long and returns
    the same rows; the span around it names the fault."""
    faults({"catalogue_slow_query": SLOW_MS})
    with trace.get_tracer(__name__).start_as_current_span("step"), CaptureQueriesContext(connection) as run:
        started = time.monotonic()
        names = list(slowed(FaultFlag.objects.filter(pk=row.pk), fault="catalogue_slow_query"))
        took = time.monotonic() - started
    assert names == [row] and len(run.captured_queries) == 1
    assert took >= SLOW_MS / 1000  # a lower bound: the engine slept that long, whatever the load
    [step] = [span for span in spans.get_finished_spans() if span.name == "step"]
    assert step.attributes[attributes.FAULT_NAME] == "catalogue_slow_query"


def test_a_query_is_not_slowed_while_its_fault_is_at_zero(row, faults):
    """At zero the queryset is handed back untouched: the same SQL."""
    faults({"catalogue_slow_query": 0})
    queryset = FaultFlag.objects.filter(pk=row.pk)
    assert slowed(queryset, fault="catalogue_slow_query") is queryset


@pytest.fixture
def rows(db) -> list[FaultFlag]:
    return [FaultFlag.objects.create(name=f"scratch-{n}", value=n) for n in range(6)]


def test_a_firing_n_plus_one_reads_one_select_per_row(rows, faults, spans):
    """catalogue_n_plus_one=1: the keys in one query, then one SELECT per row, all the same
    statement; the same rows in the same order; the span names the fault."""
    faults({"catalogue_n_plus_one": 1.0})
    queryset = FaultFlag.objects.filter(name__startswith="scratch-").order_by("value")
    with trace.get_tracer(__name__).start_as_current_span("step"), CaptureQueriesContext(connection) as run:
        read = row_by_row(queryset, fault="catalogue_n_plus_one")
    assert read == rows
    per_row = [query["sql"] for query in run.captured_queries[1:]]
    assert len(per_row) == len(rows)
    assert len({sql.replace(row.pk, "?") for sql, row in zip(per_row, rows, strict=True)}) == 1
    [step] = [span for span in spans.get_finished_spans() if span.name == "step"]
    assert step.attributes[attributes.FAULT_NAME] == "catalogue_n_plus_one"


def test_without_the_n_plus_one_the_rows_come_in_one_query(rows, faults):
    faults({"catalogue_n_plus_one": 0.0})
    queryset = FaultFlag.objects.filter(name__startswith="scratch-").order_by("value")
    with CaptureQueriesContext(connection) as run:
        assert row_by_row(queryset, fault="catalogue_n_plus_one") == rows
    assert len(run.captured_queries) == 1
