"""Tail retention (telemetry/store/tail.py, ``manage.py decide_traces``): quiet traces are
kept or dropped by the rules, a dropped trace's late spans are discarded unless one is an
error, and every decision is a function of the trace id."""

from __future__ import annotations

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import call_command

from instrumentation.attributes import CUSTOMER_TIER
from instrumentation.sampling import UNTRACED_ROOTS
from synthetic.builders import BASE_NS, S, TraceBuilder, metered, metric_row, trace_id
from telemetry.models import LogRecord, Span, SpanMetric, Trace, TraceAttribute
from telemetry.store import tail
from telemetry.store.index import save_spans

pytestmark = pytest.mark.django_db(databases="__all__")
STORED = BASE_NS  # when the test traces' spans were stored (wall clock, as the exporter sets it)
LATER = STORED + 60 * S  # a minute on: every test trace is quiet
POLICY = tail.Policy(
    wait_s=30,
    slow_ms=2000,
    slow_share=0.5,
    base_share=0.1,
    multipliers={"premium": 1.5, "standard": 1.0, "free": 0.5},
)
MANY = 2000


def a_trace(
    name_or_id: str, *, ms: float = 50, error: bool = False, tier: str = "", stored_ns: int = STORED
) -> TraceBuilder:
    """A stored two-span trace: a checkout and its orders call (failed when ``error``)."""
    is_id = len(name_or_id) == 32
    trace = TraceBuilder(trace_id=name_or_id if is_id else trace_id(name_or_id))
    attributes = {CUSTOMER_TIER: tier} if tier else {}
    root = trace.span(
        "POST api/shop/checkout/", service="shop", start=0, ms=ms, kind="SERVER", attributes=attributes
    )
    trace.span(
        "POST api/orders/", service="orders", start=1, ms=ms / 2, parent=root, status="ERROR" if error else ""
    )
    save_spans(trace.spans, now_ns=stored_ns)
    LogRecord.objects.create(
        trace_id=trace.trace_id,
        span_id=root.span_id,
        time_ns=root.start_time_ns,
        level="INFO",
        logger="t",
        message="m",
    )
    return trace


def many_ids(prefix: str, count: int = MANY) -> list[str]:
    """Distinct trace ids, as random-looking as real ones."""
    return [hashlib.md5(f"{prefix}{n}".encode()).hexdigest() for n in range(count)]


def not_drawn(prefix: str) -> str:
    """A trace id whose draw is above the base share: dropped if ordinary."""
    return next(t for t in many_ids(prefix) if tail.draw(t) >= POLICY.base_share)


def bulk_traces(prefix: str, *, ms: float = 50, tier: str = "") -> list[str]:
    """``MANY`` one-span traces, stored in one batch (fast); returns their trace ids."""
    attributes = {CUSTOMER_TIER: tier} if tier else {}
    rows = []
    for trace_id_ in many_ids(prefix):
        trace = TraceBuilder(trace_id=trace_id_)
        rows += [trace.span("GET api/shop/products/", service="shop", start=0, ms=ms, attributes=attributes)]
    save_spans(rows, now_ns=STORED)
    return [row.trace_id for row in rows]


def decided(trace: TraceBuilder | str) -> Trace:
    return Trace.objects.get(trace_id=trace if isinstance(trace, str) else trace.trace_id)


def kept_share(trace_ids: list[str]) -> float:
    tail.decide(POLICY, now_ns=LATER, batch=len(trace_ids))
    rows = Trace.objects.filter(trace_id__in=trace_ids)
    assert not rows.filter(decision="").exists()
    return rows.filter(decision="keep").count() / len(trace_ids)


def within(share: float, expected: float, n: int = MANY) -> bool:
    """Four standard deviations of a binomial share: a fair draw fails about once in 15,000."""
    return abs(share - expected) <= 4 * (expected * (1 - expected) / n) ** 0.5


def test_a_trace_with_an_error_is_kept_whole():
    """Error: kept, reason ``error`` at share 1, with its spans, logs and index entries."""
    trace = a_trace("failed", error=True)

    counts = tail.decide(POLICY, now_ns=LATER)

    row = decided(trace)
    assert (row.decision, row.decision_reason, row.decision_share) == ("keep", "error", 1.0)
    assert row.decided_at is not None and not row.incomplete
    assert Span.objects.filter(trace_id=trace.trace_id).count() == 2
    assert counts["kept"] == 1 and counts["keep:error"] == 1


def test_a_dropped_trace_loses_its_spans_and_keeps_its_summary_row():
    """Drop: spans, log records and index entries go; the row stays, decision ``drop``,
    with its bounds and no span counted, and search no longer finds it."""
    from telemetry.selectors import TraceQuery, trace_search

    trace = a_trace(not_drawn("plain"))

    counts = tail.decide(POLICY, now_ns=LATER)

    row = decided(trace)
    assert (row.decision, row.decision_reason, row.decision_share) == ("drop", "base", 0.1)
    assert row.span_count == 0 and row.duration_ns == 50_000_000
    for model in (Span, LogRecord, TraceAttribute):
        assert not model.objects.filter(trace_id=trace.trace_id).exists()
    assert counts == {"kept": 0, "dropped": 1, "drop:base": 1, "spans_removed": 2}
    assert not trace_search(TraceQuery()).filter(trace_id=trace.trace_id).exists()


def test_a_dropped_trace_keeps_counting_in_the_metrics_but_is_no_example():
    """The metric rows of a dropped trace stay (the dashboard counts every request) and are
    marked unsampled, so no figure offers the gone trace as an example."""
    trace = a_trace(not_drawn("counted"))
    SpanMetric.objects.bulk_create(
        [metric_row(span) for span in Span.objects.filter(trace_id=trace.trace_id) if metered(span)]
    )
    rows = SpanMetric.objects.filter(trace_id=trace.trace_id)
    assert rows.count() > 0

    tail.decide(POLICY, now_ns=LATER)

    assert decided(trace).decision == "drop"
    assert rows.count() > 0 and not rows.filter(sampled=True).exists()


def test_slow_traces_are_kept_at_the_slow_share():
    """Longer than TELEMETRY_TAIL_SLOW_MS: about half kept, reason ``slow``."""
    ids = bulk_traces("slow", ms=2500)
    assert within(kept_share(ids), 0.5)
    assert set(Trace.objects.filter(trace_id__in=ids).values_list("decision_reason", flat=True)) == {"slow"}


def test_other_traces_are_kept_at_the_base_share():
    """Neither failed nor slow: about a tenth kept, reason ``base``."""
    ids = bulk_traces("base")
    assert within(kept_share(ids), 0.1)
    assert set(Trace.objects.filter(trace_id__in=ids).values_list("decision_reason", flat=True)) == {"base"}


@pytest.mark.parametrize(("tier", "share"), [("premium", 0.15), ("free", 0.05), ("standard", 0.1), ("", 0.1)])
def test_the_customer_tier_multiplies_the_share(tier, share):
    """customer.tier scales the base share: premium 0.15, free 0.05; none counts as standard."""
    ids = bulk_traces(f"tier-{tier}", tier=tier)
    assert within(kept_share(ids), share)
    shares = set(Trace.objects.filter(trace_id__in=ids).values_list("decision_share", flat=True))
    assert [round(value or 0, 9) for value in shares] == [share]
    assert set(Trace.objects.filter(trace_id__in=ids).values_list("tier", flat=True)) == {tier}


def test_a_multiplied_share_is_capped_at_one():
    """A share times the tier's multiplier never exceeds 1: slow 0.8 x premium 1.5 is 1."""
    policy = tail.Policy(
        wait_s=30, slow_ms=2000, slow_share=0.8, base_share=0.1, multipliers={"premium": 1.5}
    )
    assert policy.share("slow", "premium") == 1.0
    trace = a_trace("capped", ms=2500, tier="premium")
    tail.decide(policy, now_ns=LATER)
    assert (decided(trace).decision, decided(trace).decision_share) == ("keep", 1.0)


def test_the_tier_is_read_from_any_span_of_the_trace():
    """The tier of the first span that carries one names the trace's tier, even from a child."""
    trace = TraceBuilder(trace_id=trace_id("child-tier"))
    root = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=10)
    save_spans(trace.spans[:], now_ns=STORED)
    trace.span("run/orders.finalize_order", service="orders-worker", start=5, ms=3, parent=root,
               attributes={CUSTOMER_TIER: "free"})  # fmt: skip
    save_spans(trace.spans[1:], now_ns=STORED)
    assert decided(trace).tier == "free"


def test_a_trace_is_decided_only_once_it_has_been_quiet_for_the_wait():
    """A span stored less than TELEMETRY_TAIL_DECISION_WAIT ago keeps the trace pending; a
    later batch restarts the wait."""
    trace = a_trace("busy", error=True)
    assert tail.decide(POLICY, now_ns=STORED + 29 * S)["kept"] == 0
    assert decided(trace).decision == ""
    save_spans([trace.span("late", service="shop", start=3, ms=1)], now_ns=STORED + 20 * S)
    assert tail.decide(POLICY, now_ns=STORED + 45 * S)["kept"] == 0
    assert tail.decide(POLICY, now_ns=STORED + 51 * S)["kept"] == 1
    assert decided(trace).decision == "keep"


def test_late_spans_of_a_dropped_trace_are_discarded():
    """After a drop, spans that arrive are not stored and the trace stays dropped."""
    trace = a_trace(not_drawn("late"))
    tail.decide(POLICY, now_ns=LATER)

    late = trace.span("run/notifications.send_email", service="orders-worker", start=80, ms=5)
    assert save_spans([late], now_ns=LATER + S) == 0

    assert not Span.objects.filter(trace_id=trace.trace_id).exists()
    assert decided(trace).decision == "drop"


def test_a_late_error_revives_a_dropped_trace_as_incomplete():
    """An error span arriving after a drop is stored with its batch; the trace becomes
    ``keep`` / ``late_error``, ``incomplete``; later spans of it are stored as usual."""
    trace = a_trace(not_drawn("revive"))
    tail.decide(POLICY, now_ns=LATER)

    failing = trace.span(
        "run/orders.compensate_order", service="orders-worker", start=90, ms=5, status="ERROR"
    )
    sibling = trace.span("POST api/payments/cancel/", service="payments", start=91, ms=2)
    assert save_spans([failing, sibling], now_ns=LATER + S) == 2
    save_spans([trace.span("after", service="shop", start=99, ms=1)], now_ns=LATER + 2 * S)

    row = decided(trace)
    assert (row.decision, row.decision_reason, row.incomplete) == ("keep", "late_error", True)
    assert row.span_count == 3 and row.error_count == 1
    assert Span.objects.filter(trace_id=trace.trace_id).count() == 3


def test_late_log_records_of_a_dropped_trace_are_discarded():
    """The log exporter follows the drop too: one lookup per batch."""
    trace = a_trace(not_drawn("logs"))
    tail.decide(POLICY, now_ns=LATER)
    assert tail.dropped({trace.trace_id, "f" * 32}, using="telemetry") == {trace.trace_id}


def test_the_decision_is_a_function_of_the_trace_id():
    """Deciding the same traces again (stored afresh) decides each the same way."""
    ids = bulk_traces("again")
    tail.decide(POLICY, now_ns=LATER, batch=MANY)
    first = dict(Trace.objects.filter(trace_id__in=ids).values_list("trace_id", "decision"))
    Trace.objects.filter(trace_id__in=ids).update(decision="", last_stored_ns=STORED)
    tail.decide(POLICY, now_ns=LATER, batch=MANY)
    assert dict(Trace.objects.filter(trace_id__in=ids).values_list("trace_id", "decision")) == first
    assert all(0 <= tail.draw(t) < 1 for t in ids) and tail.draw(ids[0]) == tail.draw(ids[0])


def test_a_run_decides_at_most_its_batch_longest_quiet_first():
    """A backlog is worked off a bounded batch per run, the longest quiet first."""
    older = [a_trace(f"old{n}", error=True, stored_ns=STORED - n * S) for n in range(1, 4)]
    newer = [a_trace(f"new{n}", error=True) for n in range(3)]

    assert tail.decide(POLICY, now_ns=LATER, batch=3)["kept"] == 3

    assert {decided(t).decision for t in older} == {"keep"}
    assert {decided(t).decision for t in newer} == {""}


def test_the_command_decides_and_shows_decisions():
    """``manage.py decide_traces --wait 0`` decides now; ``--show`` prints decisions as JSON."""
    trace = a_trace("command", error=True, stored_ns=1)
    out = StringIO()
    call_command("decide_traces", "--wait", "0", "--json", stdout=out)
    assert json.loads(out.getvalue())["keep:error"] == 1
    out = StringIO()
    call_command("decide_traces", "--show", trace.trace_id, stdout=out)
    assert json.loads(out.getvalue())[0]["decision_reason"] == "error"


def test_multipliers_are_parsed_from_the_setting():
    """``premium=1.5,standard=1.0,free=0.5`` as numbers; an unknown tier multiplies by 1."""
    assert tail.parse_multipliers("premium=1.5, standard=1.0,free=0.5,") == {
        "premium": 1.5,
        "standard": 1.0,
        "free": 0.5,
    }
    assert POLICY.multiplier("gold") == 1.0


def test_the_decision_task_run_is_not_traced():
    """The beat task's run span is dropped by the sampler, like the other store chores."""
    assert "run/telemetry.decide_traces" in UNTRACED_ROOTS
