"""Two traces compared operation by operation (telemetry/compare.py)."""

from __future__ import annotations

from synthetic.builders import Recorder, confirmed_order, failed_order
from telemetry.viewer.compare import compare_traces


def diffs_by_operation(a, b) -> dict:
    return {(diff.service, diff.name): diff for diff in compare_traces(a, b)}


def test_a_failed_order_against_a_confirmed_one():
    """Operations are matched by (service, span name); what only one side ran, counts,
    errors and a large change of total duration are the differences."""
    failed, confirmed = Recorder(), Recorder()
    failed_order(failed, attempts=3)
    confirmed_order(confirmed)
    diffs = diffs_by_operation(failed.rows(), confirmed.rows())
    finalize = diffs[("orders-worker", "run/orders.finalize_order")]
    assert (finalize.a.count, finalize.b.count, finalize.a.errors, finalize.b.errors) == (3, 1, 3, 0)
    assert set(finalize.changes) == {"count", "errors", "duration"}
    assert diffs[("orders-worker", "run/orders.compensate_order")].changes == ("only_a",)
    capture = diffs[("payments", "POST api/payments/payments/<uuid:order_id>/capture/")]
    assert capture.changes == ("only_b",) and capture.a is None and capture.delta_ms > 0
    assert diffs[("shop", "POST api/shop/checkout/")].changes == ()


def test_operations_come_in_the_order_they_first_ran():
    """Read top to bottom, the comparison follows the checkout, then the worker."""
    failed, confirmed = Recorder(), Recorder()
    failed_order(failed)
    confirmed_order(confirmed)
    names = [diff.name for diff in compare_traces(failed.rows(), confirmed.rows())]
    assert names[0] == "POST api/shop/checkout/"
    assert (
        names.index("checkout")
        < names.index("run/orders.finalize_order")
        < names.index("run/orders.compensate_order")
    )


def test_small_differences_in_duration_are_not_flagged():
    """Twice as slow but under 20 ms apart is noise, not a difference."""
    a, b = Recorder(), Recorder()
    a.span("query", service="shop", start=0, ms=2)
    b.span("query", service="shop", start=0, ms=8)
    [diff] = compare_traces(a.rows(), b.rows())
    assert diff.changes == ()
