"""Pruning the span store (telemetry/retention.py, ``manage.py prune_traces``): old traces
go whole, failed ones are kept longer, the rest is left as it was."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from instrumentation.sampling import UNTRACED_ROOTS
from synthetic.builders import NOW, add_span, trace_id
from telemetry.models import LogRecord, Span, SpanMetric, Trace, TraceAttribute
from telemetry.store import retention

pytestmark = pytest.mark.django_db(databases="__all__")
DAY_S = 86_400


def a_trace(name: str, *, days_ago: float, error: bool = False, now_ns: int = NOW) -> str:
    # add_span counts back from the fixed NOW; shift so the trace is days_ago before now_ns.
    ago_s = days_ago * DAY_S - (now_ns - NOW) / 1e9
    root = add_span(name, "shop", "POST api/shop/checkout/", ago_s=ago_s)
    add_span(
        name,
        "orders",
        "UPDATE",
        kind="CLIENT",
        parent=root,
        ago_s=ago_s,
        status="ERROR" if error else "UNSET",
    )
    LogRecord.objects.create(
        trace_id=trace_id(name),
        span_id=root.span_id,
        time_ns=root.start_time_ns,
        level="INFO",
        logger="t",
        message="m",
    )
    return trace_id(name)


def stored(trace: str) -> dict[str, int]:
    return {
        model.__name__: model.objects.filter(trace_id=trace).count()
        for model in (Span, LogRecord, TraceAttribute, Trace)
    }


def test_old_traces_go_whole_and_failed_ones_are_kept_longer():
    fresh = a_trace("fresh", days_ago=1)
    old = a_trace("old", days_ago=10)
    old_failure = a_trace("old-failure", days_ago=10, error=True)
    ancient_failure = a_trace("ancient-failure", days_ago=40, error=True)
    kept_before = stored(fresh)

    removed = retention.prune(retention.Policy(days=7, error_days=30), now_ns=NOW)

    assert removed == {"traces": 2, "spans": 4, "metrics": 6}
    for gone in (old, ancient_failure):
        assert stored(gone) == {"Span": 0, "LogRecord": 0, "TraceAttribute": 0, "Trace": 0}
    assert stored(fresh) == kept_before
    assert stored(old_failure)["Span"] == 2 and stored(old_failure)["Trace"] == 1


def test_metric_rows_go_by_age_alone_and_outlive_their_trace():
    """The dashboard's metric rows older than the retention go, a failed trace's too (its
    spans stay for the error retention); a young trace's rows stay when its spans are
    removed otherwise (tail retention): the figures count what sampling dropped."""
    a_trace("old-failure", days_ago=10, error=True)
    fresh = a_trace("fresh", days_ago=1)
    add_span("unsampled", "shop", "POST api/shop/checkout/", ago_s=DAY_S, sampled=False)
    Span.objects.filter(trace_id=fresh).delete()  # as tail retention drops a trace

    assert retention.prune_metrics(retention.Policy(days=7, error_days=30), now_ns=NOW) == 2

    assert Span.objects.filter(trace_id=trace_id("old-failure")).count() == 2
    assert sorted(SpanMetric.objects.values_list("trace_id", flat=True)) == sorted(
        [fresh, fresh, trace_id("unsampled")]
    )


def test_a_trace_dropped_early_keeps_counting_but_is_no_example():
    """Tail retention drops a young trace's spans and unsamples its metric rows: the rows
    stay, marked so the dashboard offers no example trace that is gone."""
    dropped = a_trace("dropped", days_ago=1)
    kept = a_trace("kept", days_ago=1)
    Span.objects.filter(trace_id=dropped).delete()

    assert retention.unsample_metrics([dropped]) == 2

    sampled = dict(SpanMetric.objects.values_list("trace_id", "sampled").distinct())
    assert sampled == {dropped: False, kept: True}


def test_an_error_retention_shorter_than_the_normal_one_keeps_failures_as_long():
    failure = a_trace("failure", days_ago=5, error=True)
    assert not retention.expired(retention.Policy(days=7, error_days=1), now_ns=NOW).exists()
    assert stored(failure)["Trace"] == 1


def test_the_command_counts_on_a_dry_run_and_then_prunes():
    now = time.time_ns()
    a_trace("old", days_ago=10, now_ns=now)
    a_trace("new", days_ago=1, now_ns=now)
    out = StringIO()
    call_command("prune_traces", days=7, dry_run=True, no_progress=True, stdout=out)
    assert out.getvalue().startswith("1 traces would be removed")
    assert Trace.objects.count() == 2
    call_command("prune_traces", days=7, no_progress=True, stdout=out)
    assert "Removed 1 traces (2 spans)" in out.getvalue()
    assert list(Trace.objects.values_list("trace_id", flat=True)) == [trace_id("new")]


def test_beat_prunes_and_its_runs_are_not_traced():
    assert settings.CELERY_BEAT_SCHEDULE["telemetry-prune-traces"]["task"] == "telemetry.prune_traces"
    assert "run/telemetry.prune_traces" in UNTRACED_ROOTS
