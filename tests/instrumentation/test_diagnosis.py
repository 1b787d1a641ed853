"""The order diagnosis seam: the function the trace store names in TELEMETRY_ORDER_DIAGNOSIS
is loaded by dotted path and asked about an order; without one, there is no diagnosis."""

from __future__ import annotations

import pytest

from instrumentation.diagnosis import OrderDiagnosis, order_diagnosis
from synthetic import builders as traces
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.text import summary_line
from telemetry.store.index import save_spans

CALLS: list[tuple[str, str]] = []


def fake_diagnosis(order_id: str, trace_id: str) -> OrderDiagnosis:
    CALLS.append((order_id, trace_id))
    return OrderDiagnosis(summary="it broke", trace_id=trace_id or "a" * 32)


def test_the_function_named_by_the_setting_answers(settings):
    """Any function with the right signature can stand behind the seam (another store)."""
    settings.TELEMETRY_ORDER_DIAGNOSIS = f"{__name__}.fake_diagnosis"
    CALLS.clear()
    assert order_diagnosis("o-1", "b" * 32) == OrderDiagnosis(summary="it broke", trace_id="b" * 32)
    assert CALLS == [("o-1", "b" * 32)]


def test_without_a_store_configured_there_is_no_diagnosis(settings):
    """An empty setting (a shop run without the trace store) answers None, imports nothing."""
    settings.TELEMETRY_ORDER_DIAGNOSIS = ""
    assert order_diagnosis("o-1", "b" * 32) is None


@pytest.mark.django_db(databases="__all__")
def test_the_stores_diagnosis_is_the_summary_line_of_the_orders_trace():
    """The default, ``telemetry.diagnosis.orders.order_diagnosis``, finds the order's trace by
    its id or, without one, by the spans naming the order; none stored answers None."""
    trace = traces.retried_db_timeouts(attempts=3)
    save_spans(trace.spans)
    expected = OrderDiagnosis(summary=summary_line(analyze(trace.spans)), trace_id=trace.trace_id)
    assert order_diagnosis(traces.ORDER_ID, trace.trace_id) == expected
    assert order_diagnosis(traces.ORDER_ID) == expected
    assert order_diagnosis("00000000-0000-0000-0000-000000000000") is None
