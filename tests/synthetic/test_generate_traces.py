"""``manage.py generate_traces`` (``synthetic.builders.checkout_trace``): synthetic checkout traces
written through the store's write path, index included, that the viewer reads like the
real ones."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from synthetic.builders import checkout_trace
from telemetry.diagnosis.analysis import analyze
from telemetry.models import LogRecord, Span, SpanMetric, Trace, TraceAttribute
from telemetry.selectors import TraceQuery, span_to_dict, trace_search, trace_spans

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def generated() -> str:
    out = StringIO()
    call_command("generate_traces", spans=3000, hours=2, seed=7, batch=700, no_progress=True, stdout=out)
    return out.getvalue()


def test_it_writes_at_least_the_spans_asked_for_with_their_index(generated):
    spans = Span.objects.count()
    assert 3000 <= spans < 3000 + 300  # the last trace is finished, not cut
    assert f"Wrote {spans} spans in {Trace.objects.count()} traces" in generated
    assert Trace.objects.aggregate(total=Sum("span_count"))["total"] == spans
    traces = Trace.objects.count()
    assert Trace.objects.filter(root_name="POST api/shop/checkout/").count() == traces
    assert TraceAttribute.objects.filter(key="threadline.synthetic", value="true").count() == traces
    assert LogRecord.objects.exists()


def test_the_dashboard_counts_the_generated_checkouts(generated):
    """Every generated request and task run has its metric row, database calls none: the
    metrics page counts each checkout once."""
    checkouts = SpanMetric.objects.filter(name="POST api/shop/checkout/").count()
    assert checkouts == Trace.objects.count()
    assert not SpanMetric.objects.filter(kind="INTERNAL").exists()
    assert not SpanMetric.objects.filter(name__in=["SELECT", "INSERT", "UPDATE"]).exists()
    assert SpanMetric.objects.filter(kind="CONSUMER").exists()


def test_the_outcomes_are_mixed_and_a_failed_one_reads_like_a_real_one(generated):
    """Errors in a share of the traces, and the diagnosis of one that timed out finds the
    worker's UPDATE with the injected fault as its root cause."""
    failing = Trace.objects.filter(error_count__gt=0).count()
    assert 0 < failing < Trace.objects.count() / 2
    [timed_out, *_] = trace_search(TraceQuery(attributes=(("fault.name", "order_db_timeout"),)))
    diagnosis = analyze(trace_spans(timed_out.trace_id))
    assert diagnosis.root_cause is not None
    assert (diagnosis.root_cause.service, diagnosis.root_cause.name) == ("orders-worker", "UPDATE")
    assert diagnosis.root_cause.exception_type == "sqlite3.OperationalError"


def test_nonsense_sizes_are_refused():
    with pytest.raises(CommandError, match="must be positive"):
        call_command("generate_traces", spans=0, no_progress=True)


def test_the_same_seed_writes_the_same_traces():
    """Trace ids, order ids and times follow the seed: a run can be repeated."""
    first = checkout_trace(random.Random(3), start_ns=10**18)
    again = checkout_trace(random.Random(3), start_ns=10**18)
    assert [span_to_dict(span) for span in first.spans] == [span_to_dict(span) for span in again.spans]
    assert first.order_id == again.order_id
