"""What the trace page draws (telemetry/waterfall.py): rows, colours, root cause."""

from __future__ import annotations

from synthetic.builders import (
    UPDATE_CONFIRMATION,
    Recorder,
    TraceBuilder,
    bulk_import,
    confirmed_order,
    deep,
    failed_order,
    flooded,
    n_plus_one,
)
from telemetry.models import LogRecord
from telemetry.viewer.waterfall import (
    FOLD_OVER,
    MAX_CHILDREN_DRAWN,
    MAX_INDENT,
    MAX_ROWS_DRAWN,
    PALETTE,
    Elided,
    Folded,
    Row,
    find_spans,
    root_cause,
    service_colour,
    shown,
    waterfall,
)

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


# --- large traces --------------------------------------------------------------------------


def test_a_span_with_thousands_of_children_is_drawn_in_part_errors_included():
    """The first children, then every error among the rest, then one row for what is left;
    rows are built for the drawn spans only."""
    trace = flooded(12_000)
    view = waterfall(trace.spans)
    drawn = [item for item in view.drawn if isinstance(item, Row)]
    [elided] = [item for item in view.drawn if isinstance(item, Elided)]
    errors = [span.span_id for span in trace.spans if span.status == "ERROR"]
    assert len(drawn) == 1 + MAX_CHILDREN_DRAWN + 2 and {row.span.span_id for row in drawn} >= set(errors)
    assert elided.parent is view.rows[0] and elided.spans == 12_000 - MAX_CHILDREN_DRAWN - 2
    assert view.drawn[-1] is elided and view.elided == elided.spans and view.span_count == 12_001
    assert view.rows == drawn


def test_a_deep_chain_is_drawn_down_to_the_rows_limit():
    view = waterfall(deep(MAX_ROWS_DRAWN + 500).spans)
    assert sum(isinstance(item, Row) for item in view.drawn) == MAX_ROWS_DRAWN
    [elided] = [item for item in view.drawn if isinstance(item, Elided)]
    assert (elided.spans, elided.errors) == (500, 1)
    assert max(row.indent for row in view.rows) == MAX_INDENT


def test_undrawn_spans_are_counted_under_the_span_whose_subtree_they_are_in():
    """Left-out children and their own children count in the parent's row, placed after
    the parent's drawn subtree; the root cause's lineage is drawn past the limit."""
    trace = TraceBuilder()
    root = trace.span("GET /", service="shop", start=0, ms=100, kind="SERVER")
    calls = [trace.span(f"call {n}", service="shop", start=n, ms=1, parent=root) for n in range(4)]
    trace.span("inner", service="orders", start=3.5, ms=0.2, parent=calls[3], error=("E", "boom"))
    for call in calls[:3]:
        trace.span("inner", service="orders", start=call.start_time_ns, ms=0.1, parent=call)
    drawn = waterfall(trace.spans, children_limit=2).drawn
    names = [item.span.name if isinstance(item, Row) else f"elided {item.spans}" for item in drawn]
    assert names == ["GET /", "call 0", "inner", "call 1", "inner", "call 3", "inner", "elided 2"]


def test_drawing_all_draws_every_span():
    view = waterfall(flooded(300).spans, draw_all=True)
    assert view.drawn == view.rows and view.elided == 0 and len(view.rows) == 301


# --- folding -------------------------------------------------------------------------------


def shown_rows(view) -> list[Row]:
    return [item for item in view.drawn if isinstance(item, Row) and not item.hidden]


def test_a_trace_of_2000_spans_opens_folded_with_its_failure_open():
    """20 batches of 99 INSERTs, one failing in batch 2. What is drawn: the request, its 20
    batches, batch 2 open down to the failed INSERT; the other 19 folded, each subtree one
    ``Folded`` row (its 99 rows are not built: they come when the batch is unfolded)."""
    view = waterfall(bulk_import().spans)
    assert view.span_count == 2001 > FOLD_OVER and view.elided == 0
    assert view.rows == shown_rows(view) and len(view.rows) == 1 + 20 + 99
    batches = [row for row in view.rows if row.depth == 1]
    assert [row.span.name for row in batches] == [f"import batch {n}" for n in range(1, 21)]
    assert [row.span.name for row in batches if not row.folded] == ["import batch 2"]
    folded = [item for item in view.drawn if isinstance(item, Folded)]
    assert view.folded == len(folded) == 19 and view.folded_spans == 19 * 99
    assert all(item.parent.folded and item.spans == 99 and not item.errors for item in folded)
    failed = next(row for row in view.rows if row.span.status == "ERROR")
    assert failed.root_cause


def test_unfolding_a_folded_span_draws_its_subtree_alone():
    """What unfolding batch 5 fetches: its 99 INSERTs one level below it, nothing else."""
    trace = bulk_import()
    batch5 = next(span for span in trace.spans if span.name == "import batch 5")
    view = waterfall(trace.spans, subtrees=[batch5.span_id])
    assert len(view.drawn) == len(view.rows) == 99
    assert {(row.parent_id, row.depth) for row in view.rows} == {(batch5.span_id, 2)}


def test_find_reaches_spans_in_folded_subtrees_with_the_way_to_them():
    """Find answers over every span, the page's unsent ones included: the match, how many,
    and the drawn parents up to the root (what the page unfolds)."""
    trace = bulk_import()
    batch5 = next(span for span in trace.spans if span.name == "import batch 5")
    insert = next(span for span in trace.spans if span.parent_span_id == batch5.span_id)
    found = find_spans(trace.spans, insert.span_id.upper())
    assert found["matches"] == [insert.span_id] and found["total"] == 1
    assert found["parents"] == {insert.span_id: batch5.span_id, batch5.span_id: trace.spans[0].span_id,
                                trace.spans[0].span_id: ""}  # fmt: skip
    batches = find_spans(trace.spans, "import batch", limit=5)
    assert batches["total"] == 20 and len(batches["matches"]) == 5


def test_a_span_asked_for_is_drawn_open_and_past_the_childrens_limit():
    """``show``: the way to a span is open and the span drawn though it is the 300th child."""
    trace = flooded(500)
    target = [span for span in trace.spans if span.parent_span_id][300]
    view = waterfall(trace.spans, show=target.span_id)
    assert target.span_id in {row.span.span_id for row in view.rows}


def test_repeated_children_fold_even_on_the_critical_path():
    """An N+1 of 200 SELECTs: the request is on the critical path, but its children are
    repeats, so it opens folded; without errors nothing below shows."""
    view = waterfall(n_plus_one(200).spans)
    assert view.rows[0].critical and view.rows[0].repeats and view.rows[0].folded
    assert [row.span.name for row in shown_rows(view)] == ["GET api/shop/products/"]
    [folded] = [item for item in view.drawn if isinstance(item, Folded)]
    assert folded.parent is view.rows[0] and folded.spans == view.span_count - 1


def test_a_trace_of_a_few_spans_is_not_folded():
    rec = Recorder()
    failed_order(rec, attempts=3)
    view = waterfall(rec.rows())
    assert view.folded == 0 and not any(row.folded or row.hidden for row in view.rows)


# --- retries -------------------------------------------------------------------------------


def test_a_retried_tasks_runs_are_drawn_as_siblings_in_time_order_labelled_by_attempt():
    """Each retry is published from inside the run before it, so by parent the three runs
    nest three deep; drawn, they sit side by side under the first publish, attempt 1, 2, 3,
    the retries' publishes left where they ran. The span keeps its recorded parent."""
    rec = Recorder()
    failed_order(rec, attempts=3)
    spans = rec.rows()
    view = waterfall(spans)
    runs = [row for row in view.rows if row.span.name == "run/orders.finalize_order"]
    first_publish = runs[0].parent_id
    assert [(row.attempt, row.parent_id, row.depth) for row in runs] == [
        (1, first_publish, runs[0].depth),
        (2, first_publish, runs[0].depth),
        (3, first_publish, runs[0].depth),
    ]
    assert [row.span.start_time_ns for row in runs] == sorted(row.span.start_time_ns for row in runs)
    assert runs[1].span.parent_span_id != first_publish  # recorded under attempt 1's publish
    retry_publish = next(row for row in view.rows if row.span.span_id == runs[1].span.parent_span_id)
    assert retry_publish.parent_id == runs[0].span.span_id and retry_publish.child_count == 0
    assert retry_publish.retries == 2
    compensation = next(row for row in view.rows if row.span.name == "run/orders.compensate_order")
    assert compensation.attempt is None and compensation.depth == runs[2].depth + 2


def test_runs_of_a_task_not_retried_are_not_labelled():
    rec = Recorder()
    confirmed_order(rec)
    assert all(row.attempt is None for row in waterfall(rec.rows()).rows)


def test_list_and_mapping_attributes_read_as_text_not_python():
    """``db.summary.writes`` comma-separated; Celery's delivery info as JSON (``false``, not
    ``False``); a value too deep to encode is named."""
    assert shown(["UPDATE orders_order ×2", "INSERT orders_orderevent"]) == (
        "UPDATE orders_order ×2, INSERT orders_orderevent"
    )
    assert shown({"routing_key": "threadline.orders", "redelivered": False}) == (
        '{"routing_key": "threadline.orders", "redelivered": false}'
    )
    assert shown([{"a": 1}]) == '[{"a": 1}]'
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert shown(deep) == "(nested too deeply to show)"
