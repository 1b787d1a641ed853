"""The trace page's statistics (telemetry/viewer/stats.py): per service and per operation."""

from __future__ import annotations

from synthetic.builders import TraceBuilder
from telemetry.viewer.stats import trace_stats


def test_spans_errors_and_self_time_add_up_per_service_and_per_operation():
    """A 100 ms request with two 20 ms SELECTs (one failing) and a 30 ms call to payments
    holding a 10 ms statement: self time is what the children do not cover."""
    trace = TraceBuilder()
    request = trace.span("GET /", service="shop", start=0, ms=100, kind="SERVER")
    trace.span("SELECT", service="shop", start=10, ms=20, parent=request, kind="CLIENT")
    trace.span("SELECT", service="shop", start=40, ms=20, parent=request, kind="CLIENT", error=("E", "x"))
    call = trace.span("POST pay/", service="payments", start=60, ms=30, parent=request, kind="SERVER")
    trace.span("INSERT", service="payments", start=65, ms=10, parent=call, kind="CLIENT")
    stats = trace_stats(trace.spans)
    services = {t.service: (t.count, t.errors, t.self_ms) for t in stats.services}
    assert services == {"shop": (3, 1, 30 + 40), "payments": (2, 0, 20 + 10)}
    assert [t.service for t in stats.services] == ["shop", "payments"]  # most self time first
    operations = {(t.service, t.name): (t.count, t.errors, t.total_ms, t.self_ms) for t in stats.operations}
    assert operations == {
        ("shop", "SELECT"): (2, 1, 40, 40),
        ("shop", "GET /"): (1, 0, 100, 30),
        ("payments", "POST pay/"): (1, 0, 30, 20),
        ("payments", "INSERT"): (1, 0, 10, 10),
    }
    assert stats.operation_count == 4 and stats.operations[0].name == "SELECT"
    assert round(stats.services[0].share, 3) == 0.7
