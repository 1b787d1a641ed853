"""``manage.py trace --analyze``: the stored trace's tree followed by its diagnosis, or the
diagnosis alone as JSON."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from synthetic import builders as traces
from telemetry.store.index import save_spans

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def stored() -> traces.TraceBuilder:
    """The three-attempt database timeout, stored in the telemetry database."""
    trace = traces.retried_db_timeouts(attempts=3)
    save_spans(trace.spans)
    return trace


def trace_command(*args: str) -> str:
    out = StringIO()
    call_command("trace", *args, stdout=out)
    return out.getvalue()


def test_analyze_prints_the_tree_then_the_diagnosis(stored):
    """The tree as without --analyze, then the summary, the time per service, the root
    cause, the propagation and the recommendations."""
    output = trace_command("--order", traces.ORDER_ID, "--analyze")
    tree, _, diagnosis = output.partition("\ndiagnosis\n")
    assert tree.strip() == trace_command("--order", traces.ORDER_ID).strip()
    assert (
        "on attempt 1 of orders.finalize_order (fault order_db_timeout), again on attempts 2-3" in diagnosis
    )
    assert "orders-worker" in diagnosis and "← bottleneck" in diagnosis
    assert "root cause: [orders-worker] UPDATE orders_order" in diagnosis
    assert "sqlite3.OperationalError: interrupted" in diagnosis
    assert "propagation (root cause → trace root):" in diagnosis and "payment voided" in diagnosis
    assert "- db_timeout_on_retries:" in diagnosis


def test_analyze_json_prints_the_diagnosis(stored):
    """``--analyze --json`` is the diagnosis alone, as one JSON object, by trace id too."""
    data = json.loads(trace_command(stored.trace_id, "--analyze", "--json"))
    assert data["trace_id"] == stored.trace_id
    cause = data["root_cause"]
    assert (cause["exception_type"], cause["attempt"], cause["attempts"]) == (
        "sqlite3.OperationalError",
        1,
        3,
    )
    assert cause["fault"] == "order_db_timeout" and cause["repeated_on"] == [2, 3]
    assert [rec["kind"] for rec in data["recommendations"]] == ["db_timeout_on_retries"]
    assert "order failed" in data["outcome"]


def test_json_without_analyze_still_prints_the_spans(stored):
    """The existing ``--json`` output is unchanged: a list of spans."""
    spans = json.loads(trace_command(stored.trace_id, "--json"))
    assert len(spans) == len(stored.spans) and {"span_id", "parent_span_id"} <= spans[0].keys()


def test_an_unknown_order_is_an_error_that_says_why():
    """No stored span names the order: the command fails with a hint, analysed or not."""
    with pytest.raises(CommandError, match="No stored span names order"):
        trace_command("--order", "00000000-0000-0000-0000-000000000000", "--analyze")
