"""Caps on a trace's spans and a span's children, at ingest (telemetry/store/caps.py),
through the store's write path and the OTLP upload."""

from __future__ import annotations

import pytest

from synthetic.builders import TraceBuilder
from telemetry.models import Span, Trace
from telemetry.store.caps import ROOT_HEADROOM, Caps, admit
from telemetry.store.exporter import store_spans
from telemetry.viewer.otlp import read_otlp, to_otlp


def flood(children: int) -> tuple[TraceBuilder, Span]:
    """A request with ``children`` statements under it, each 1 ms after the last."""
    trace = TraceBuilder()
    root = trace.span("GET /", service="shop", start=0, ms=children + 10, kind="SERVER")
    for number in range(children):
        trace.span("SELECT", service="shop", start=number, ms=1, parent=root, kind="CLIENT")
    return trace, root


def test_spans_past_the_trace_cap_are_dropped_and_say_which_cap():
    trace, root = flood(10)
    result = admit(
        trace.spans[1:], Caps(spans_per_trace=4, children_per_span=100), stored_spans={trace.trace_id: 1}
    )
    assert len(result.kept) == 3 and len(result.dropped) == 7
    assert {reason for _, reason in result.dropped} == {"over the cap of 4 spans per trace"}


def test_the_root_ending_last_still_gets_in_over_the_trace_cap():
    """Spans are stored as they end: the request's own span comes after its children."""
    trace, root = flood(10)
    in_end_order = [*trace.spans[1:], root]
    result = admit(in_end_order, Caps(spans_per_trace=4, children_per_span=100))
    assert root in result.kept and len(result.kept) == 5
    headroom = admit([root], Caps(4, 100), stored_spans={trace.trace_id: 4 + ROOT_HEADROOM})
    assert headroom.kept == []


def test_children_past_the_per_span_cap_are_dropped_counting_those_stored():
    trace, root = flood(6)
    result = admit(
        trace.spans[1:],
        Caps(spans_per_trace=100, children_per_span=4),
        stored_children={(trace.trace_id, root.span_id): 2},
    )
    assert len(result.kept) == 2
    assert {reason for _, reason in result.dropped} == {"over the cap of 4 children per span"}


@pytest.mark.django_db(databases="__all__")
def test_the_store_keeps_a_flooded_trace_within_its_caps_and_counts_the_rest(settings):
    """Batch after batch, as the exporter stores them: the caps count what is stored."""
    settings.TELEMETRY_MAX_SPANS_PER_TRACE = 100
    settings.TELEMETRY_MAX_CHILDREN_PER_SPAN = 5
    trace, root = flood(12)
    store_spans([root, *trace.spans[1:4]])
    store_spans(trace.spans[4:])
    assert Span.objects.filter(trace_id=trace.trace_id).count() == 6  # the root and 5 children
    assert Trace.objects.get(trace_id=trace.trace_id).dropped_span_count == 7


@pytest.mark.django_db(databases="__all__")
def test_a_trace_stored_twice_counts_no_drop_for_what_it_already_holds(settings):
    settings.TELEMETRY_MAX_SPANS_PER_TRACE = 100
    settings.TELEMETRY_MAX_CHILDREN_PER_SPAN = 5
    trace, root = flood(5)
    store_spans(trace.spans)
    store_spans(trace.spans)
    assert Trace.objects.get(trace_id=trace.trace_id).dropped_span_count == 0


def test_an_upload_refuses_the_spans_over_the_caps_and_says_so(settings):
    settings.TELEMETRY_MAX_CHILDREN_PER_SPAN = 3
    trace, _ = flood(5)
    loaded = read_otlp(to_otlp(trace.spans))
    assert len(loaded.rows) == 4 and loaded.refused == 2
    assert loaded.reasons[0].endswith("over the cap of 3 children per span")
