"""The trace store's answer to "why did this order fail?", for pages of the orders app.

Named in ``TELEMETRY_ORDER_DIAGNOSIS`` and called through ``instrumentation.diagnosis``, so
the orders app shows the diagnosis without importing the store.
"""

from __future__ import annotations

from instrumentation.diagnosis import OrderDiagnosis
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.text import summary_line
from telemetry.selectors import order_trace_spans


def order_diagnosis(order_id: str, trace_id: str = "") -> OrderDiagnosis | None:
    """The one-line diagnosis of the order's stored trace, or None if none is stored (yet):
    spans are written in batches, so an order failed a moment ago may have none.

    Raises ``DatabaseError`` when the store cannot be read.
    """
    spans = order_trace_spans(order_id, trace_id)
    if not spans:
        return None
    return OrderDiagnosis(summary=summary_line(analyze(spans)), trace_id=spans[0].trace_id)
