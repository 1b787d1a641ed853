"""What the trace page draws (telemetry/waterfall.py): rows, colours, root cause."""

from __future__ import annotations

from synthetic.builders import UPDATE_CONFIRMATION, Recorder, confirmed_order, failed_order
from telemetry.models import LogRecord
from telemetry.viewer.waterfall import PALETTE, root_cause, service_colour, waterfall

APPS = ("shop", "orders", "inventory", "payments", "orders-worker")


def test_each_app_has_its_own_colour_and_keeps_it():
    """Stable across processes (no ``hash()``), none red, the five apps all different."""
    colours = [service_colour(app) for app in APPS]
    assert len(set(colours)) == len(APPS)
    assert colours == [service_colour(app) for app in APPS]
    assert set(colours) <= set(PALETTE) and "#dc2626" not in PALETTE


def test_the_root_cause_is_the_earliest_error_with_no_error_below_it():
    """Each finalize attempt failed because its UPDATE did: the first attempt's UPDATE is
    where the trouble started, not the attempt around it nor a later one."""
    rec = Recorder()
    failed_order(rec, attempts=3)
    rows = rec.rows()
    cause = root_cause(rows)
    first_update = min(
        (row for row in rows if row.attributes.get("db.statement") == UPDATE_CONFIRMATION),
        key=lambda row: row.start_time_ns,
    )
    assert cause is not None
    assert cause.span_id == first_update.span_id


def test_at_an_equal_start_the_deeper_error_is_the_root_cause():
    """Errors that began together: the innermost is where it started."""
    rec = Recorder()
    outer = rec.span("outer", service="shop", start=0, ms=10, error=("ValueError", "outer"))
    rec.span("inner", service="shop", start=0, ms=5, parent=outer, error=("KeyError", "inner"))
    rec.span("sibling", service="shop", start=0, ms=5, error=("KeyError", "root level"))
    cause = root_cause(rec.rows())
    assert cause is not None and cause.name == "inner"


def test_a_trace_without_errors_has_no_root_cause():
    """A confirmed order: nothing to mark, no error counted."""
    rec = Recorder()
    confirmed_order(rec)
    view = waterfall(rec.rows())
    assert root_cause(rec.rows()) is None and view.root_cause is None and view.error_count == 0


def test_rows_are_depth_first_with_bars_to_scale_and_logs_on_their_span():
    """Offsets and widths are shares of the whole trace; a log record goes to its span, one
    whose span is not stored is listed apart."""
    rec = Recorder()
    root = rec.span("request", service="shop", start=0, ms=100)
    child = rec.span("query", service="shop", start=50, ms=25, parent=root)
    rows = rec.rows()
    trace_id, child_id = rows[0].trace_id, format(child.get_span_context().span_id, "016x")
    logs = [
        LogRecord(
            trace_id=trace_id, span_id=child_id, time_ns=1, level="INFO", logger="x", message="in query"
        ),
        LogRecord(
            trace_id=trace_id, span_id="f" * 16, time_ns=2, level="INFO", logger="x", message="elsewhere"
        ),
    ]
    view = waterfall(rows, logs)
    assert [(row.span.name, row.depth) for row in view.rows] == [("request", 0), ("query", 1)]
    query = view.rows[1]
    assert (query.offset_pct, query.width_pct, query.offset_ms) == (50, 25, 50)
    assert [record.message for record in query.logs] == ["in query"]
    assert [record.message for record in view.orphan_logs] == ["elsewhere"]
    assert view.rows[0].child_count == 1 and query.child_count == 0
