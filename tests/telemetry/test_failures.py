"""Failure groups on built traces: a group is the diagnosis' verdict (service, operation,
cause), so groups and diagnosis agree; traces failing the same way share one group, a slow
trace whose time no span explains is signed by its slowest span, each trace is analysed
once (again only when spans arrive), a window's report counts, dates and draws its groups
from the stored rows, and new groups are claimed for the mail once."""

from __future__ import annotations

import copy
import uuid

import pytest

from synthetic import builders
from synthetic.builders import BASE_NS, S, TraceBuilder
from telemetry import failures
from telemetry.diagnosis import verdict as v
from telemetry.diagnosis.analysis import analyze
from telemetry.models import FailureGroup, Span, Trace, TraceFailure
from telemetry.store.index import save_spans

pytestmark = pytest.mark.django_db(databases="__all__")

STORED = 1_900_000_000 * S  # the wall clock the test stores at ("last_stored_ns")
LATER = STORED + 60 * S  # settled by then


def stored(builder: TraceBuilder, name: str, *, shift_s: float = 0, now_ns: int = STORED) -> tuple[str, str]:
    """Stores a copy of the built trace under its own trace id and order id, ``shift_s``
    seconds later; returns (trace id, order id)."""
    trace_id = builders.trace_id(name)
    order_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    rows = []
    for span in builder.spans:
        row = copy.copy(span)
        row.pk = None
        row.trace_id = trace_id
        row.start_time_ns += int(shift_s * S)
        row.end_time_ns += int(shift_s * S)
        row.attributes = {
            k: (order_id if v == builders.ORDER_ID else v) for k, v in (span.attributes or {}).items()
        }
        row.order_id = order_id if span.order_id else ""
        rows.append(row)
    save_spans(rows, now_ns=now_ns)
    return trace_id, order_id


def group_all(now_ns: int = LATER) -> dict[str, int]:
    return failures.group_failures(now_ns=now_ns, lookback_s=None)


def test_traces_failing_the_same_way_share_one_group_with_their_orders_outcomes():
    """Three orders whose confirmation UPDATE timed out on every attempt make one group,
    signed by the verdict; one that first could not reach payments makes another, blamed
    on payments (the callee), as its diagnosis does."""
    timeouts = [stored(builders.retried_db_timeouts(), f"timeout-{n}", shift_s=n) for n in range(3)]
    stored(builders.unreachable_then_db_timeout(), "unreachable", shift_s=5)
    assert group_all() == {"grouped": 4, "new_groups": 2}

    timeout = FailureGroup.objects.get(operation="UPDATE orders_order")
    assert (timeout.kind, timeout.service, timeout.cause, timeout.exception_type, timeout.fault) == (
        "error",
        "orders-worker",
        v.DB_TIMEOUT,
        "sqlite3.OperationalError",
        "order_db_timeout",
    )
    assert timeout.summary.startswith(
        "orders-worker: UPDATE orders_order was stopped by the database after 300 ms on attempt 1"
    )
    assert timeout.first_seen_ns == BASE_NS
    members = TraceFailure.objects.filter(group=timeout)
    assert {(m.trace_id, m.order_id) for m in members} == set(timeouts)
    # The checkout reserved and authorised; the compensation voided and released.
    assert {(m.money, m.stock) for m in members} == {("voided", "released")}

    unreachable = FailureGroup.objects.exclude(pk=timeout.pk).get()
    assert (unreachable.service, unreachable.cause, unreachable.exception_type, unreachable.fault) == (
        "payments",
        v.UNREACHABLE,
        "requests.exceptions.ConnectionError",
        "payments_unreachable",
    )
    # The order id in the URL is folded: every order's capture is the same operation.
    assert unreachable.operation == "POST /api/payments/payments/<id>/capture/"


def shed_by_inventory() -> TraceBuilder:
    """The checkout's reservation call answered 503 by inventory (``inventory_unavailable``)."""
    trace = TraceBuilder()
    request = trace.span(
        "POST api/shop/checkout/", service="shop", start=0, ms=50, kind="SERVER", status="ERROR"
    )
    step = trace.span(
        "checkout",
        service="shop",
        start=2,
        ms=40,
        parent=request,
        error=("core.api.ServiceUnavailable", "POST /api/inventory/reservations/ answered 503"),
    )
    server = trace.call(step, "api/inventory/reservations/", service="inventory", start=5, ms=10, status=503)
    server.status = "ERROR"
    server.attributes["fault.name"] = "inventory_unavailable"
    trace.spans[-2].status = "ERROR"  # the shop's client span of the call
    return trace


@pytest.mark.parametrize(
    "build",
    [
        builders.retried_db_timeouts,
        builders.unreachable_then_db_timeout,
        builders.slow_gateway,
        builders.n_plus_one,
        shed_by_inventory,
    ],
)
def test_a_group_says_what_its_traces_diagnosis_says(settings, build):
    """Whatever the trace, its group's service, operation and cause are its verdict's (ids
    folded out of the operation) and the group's sentence is the verdict's."""
    settings.TELEMETRY_TAIL_SLOW_MS = 50  # the N+1 request (60 ms) counts as slow
    builder = build()
    trace_id, _ = stored(builder, build.__name__)
    group_all()
    verdict = analyze(Span.objects.filter(trace_id=trace_id)).verdict
    assert verdict is not None and verdict.cause != v.NOTHING
    group = TraceFailure.objects.get(trace_id=trace_id).group
    assert (group.service, group.operation, group.cause, group.fault) == (
        verdict.service,
        failures.fold_ids(verdict.operation),
        verdict.cause,
        verdict.fault,
    )
    assert failures.fold_ids(verdict.sentence) in failures.fold_ids(group.summary)


def test_an_order_undone_by_the_payments_and_inventory_workers_ends_refunded_and_released():
    """The undo ran as tasks, not REST: the outcome is read from their runs."""
    stored(builders.undone_by_workers(payment="refunded"), "by-workers")
    group_all()
    [member] = TraceFailure.objects.all()
    assert (member.money, member.stock) == ("refunded", "released")


def test_an_order_confirmed_by_the_payments_and_inventory_workers_reads_captured_and_committed():
    """The capture and the commit ran as tasks, not REST: read from their runs' outcomes."""
    stored(builders.confirmed_by_workers(), "confirmed-by-workers")
    group_all()
    [member] = TraceFailure.objects.all()
    assert (member.money, member.stock) == ("captured", "committed")


def test_a_commit_that_failed_for_good_reads_refunded_and_released():
    stored(builders.confirmed_by_workers(commit="failed"), "commit-failed")
    group_all()
    [member] = TraceFailure.objects.all()
    assert (member.money, member.stock) == ("refunded", "released")


def test_a_release_after_a_shed_reservation_reads_no_stock_not_released():
    """The reservation was shed (503) and the undo's release found nothing: the member's
    stock is none, and its summary does not say stock was released."""
    stored(builders.shed_reservation("none"), "shed")
    group_all()
    [member] = TraceFailure.objects.all()
    assert (member.money, member.stock) == ("none", "none")
    assert "stock released" not in member.group.summary and "no stock to release" in member.group.summary


def test_a_slow_trace_without_an_error_is_signed_by_its_verdict():
    """The capture took 2 s with nothing under it: the slow group names payments' capture as
    a slow service, and the order was charged and its stock committed."""
    trace_id, order_id = stored(builders.slow_gateway(), "slow")
    stored(builders.n_plus_one(), "fast")  # 60 ms, no error: neither failed nor slow
    assert group_all() == {"grouped": 1, "new_groups": 1}
    member = TraceFailure.objects.get()
    assert (member.trace_id, member.order_id, member.money, member.stock) == (
        trace_id,
        order_id,
        "captured",
        "committed",
    )
    group = member.group
    assert (group.kind, group.service, group.cause, group.exception_type, group.fault) == (
        "slow",
        "payments",
        v.SLOW_CODE,
        "",
        "",
    )
    assert group.operation == "POST api/payments/payments/<uuid:order_id>/capture/"
    assert group.summary.startswith(
        "slow: POST api/payments/payments/<uuid:order_id>/capture/ on payments spent 2000 ms"
    )


def test_a_slow_trace_no_span_explains_is_signed_by_its_slowest_span():
    """Five steps of 500 ms each, none a quarter of the trace: the verdict finds nothing to
    blame, so the group is the span with the most time of its own."""
    trace = TraceBuilder()
    request = trace.span("POST api/shop/checkout/", service="shop", start=0, ms=2600, kind="SERVER")
    for n in range(5):
        trace.span(f"step {n}", service="shop", start=10 + n * 510, ms=500 + n, parent=request)
    stored(trace, "spread")
    group_all()
    group = FailureGroup.objects.get()
    assert (group.kind, group.service, group.operation, group.cause) == ("slow", "shop", "step 4", v.NOTHING)
    assert group.summary.startswith("slow: shop: step 4 spent 504 ms of the trace's 2600 ms on its own")


def test_a_group_filed_before_causes_keeps_its_traces_and_new_ones_start_their_own():
    """A group of the old signature (no cause) is history: a trace failing the same way now
    goes to the verdict's group, announced as new."""
    old = FailureGroup.objects.create(
        signature="0" * 64,
        kind="error",
        service="orders-worker",
        operation="UPDATE orders_order",
        exception_type="sqlite3.OperationalError",
        fault="order_db_timeout",
        summary="orders-worker: UPDATE orders_order failed with sqlite3.OperationalError",
        first_seen_ns=BASE_NS - S,
    )
    stored(builders.retried_db_timeouts(), "after")
    assert group_all() == {"grouped": 1, "new_groups": 1}
    assert TraceFailure.objects.get().group.cause == v.DB_TIMEOUT
    assert failures.short_label(old) == "UPDATE orders_order: OperationalError (order_db_timeout)"


def test_a_trace_is_analysed_once_and_again_only_when_spans_of_it_arrive():
    """Grouping twice analyses nothing the second time; late spans (here the capture call)
    have the trace analysed again: the order's money now shows captured."""
    builder = builders.slow_gateway()
    capture_call = [s for s in builder.spans if s.attributes.get("http.url", "").endswith("/capture/")]
    late = {capture_call[0].span_id} | {
        s.span_id for s in builder.spans if s.parent_span_id in {capture_call[0].span_id}
    }
    early = TraceBuilder()
    early.spans = [s for s in builder.spans if s.span_id not in late]
    late_part = TraceBuilder()
    late_part.spans = [s for s in builder.spans if s.span_id in late]
    # A failing statement makes the early part a failure.
    failing = early.statement(early.spans[0], "SELECT 1", start=1, error=builders.DB_TIMEOUT)
    failing.span_id = "00000000000000ff"  # apart from the late spans' ids
    trace_id, _ = stored(early, "late")
    assert group_all() == {"grouped": 1, "new_groups": 1}
    assert group_all() == {"grouped": 0, "new_groups": 0}
    first = TraceFailure.objects.get(trace_id=trace_id)

    stored(late_part, "late", now_ns=STORED + 10 * S)
    assert group_all(now_ns=LATER + 10 * S) == {"grouped": 1, "new_groups": 0}
    assert first.money == "authorised"
    again = TraceFailure.objects.get(trace_id=trace_id)
    assert again.stored_ns == STORED + 10 * S > first.stored_ns
    assert again.money == "captured"  # the capture's answer is in the trace now


def test_an_unsettled_trace_waits_and_a_dropped_one_is_left_out(settings):
    """A trace whose last span was stored under TELEMETRY_FAILURES_SETTLE ago is not grouped
    yet; a trace tail retention dropped is never grouped."""
    settings.TELEMETRY_FAILURES_SETTLE = 5.0
    trace_id, _ = stored(builders.retried_db_timeouts(), "fresh")
    assert failures.group_failures(now_ns=STORED + 2 * S, lookback_s=None) == {"grouped": 0, "new_groups": 0}
    assert failures.group_failures(now_ns=STORED + 6 * S, lookback_s=None)["grouped"] == 1

    dropped, _ = stored(builders.slow_gateway(), "dropped")
    Trace.objects.filter(trace_id=dropped).update(decision=Trace.Decision.DROP)
    assert group_all()["grouped"] == 0


def test_a_window_report_counts_dates_and_draws_each_group():
    """Over a window: per group the traces in it, the first and the last, the distinct
    orders with money and stock, buckets adding up to the count, the newest kept trace as
    the example; a trace before the window is left out."""
    ids = [stored(builders.retried_db_timeouts(), f"t{n}", shift_s=60 * n)[0] for n in range(4)]
    stored(builders.slow_gateway(), "slow", shift_s=90)
    group_all()
    start, end = BASE_NS + 30 * S, BASE_NS + 600 * S
    report = failures.failure_report(start, end)
    assert (report.traces, report.orders, report.partial) == (4, 4, False)
    first, second = report.groups
    assert first.group.operation == "UPDATE orders_order" and first.count == 3  # t0 is before the window
    assert (first.first_ns, first.last_ns) == (BASE_NS + 60 * S, BASE_NS + 180 * S)
    assert first.example_trace_id == ids[3]
    assert sum(first.buckets) == 3 and len(first.buckets) == failures.BUCKETS
    assert first.money == (("voided", 3),) and first.stock == (("released", 3),)
    assert not first.is_new  # first seen (t0) before the window
    assert second.group.kind == "slow" and second.count == 1 and second.is_new

    Trace.objects.filter(trace_id=ids[3]).update(decision=Trace.Decision.DROP)
    assert failures.failure_report(start, end).groups[0].example_trace_id == ids[2]
    assert [g.group.kind for g in failures.failure_report(start, end, kind="slow").groups] == ["slow"]
    assert failures.failure_report(BASE_NS + 3600 * S, BASE_NS + 7200 * S).groups == ()


def test_new_groups_are_claimed_once_and_old_ones_are_not_news():
    """The mail announces each group once; a group first seen long before (a catch-up over
    old traces) is marked announced without being returned."""
    stored(builders.retried_db_timeouts(), "now")
    stored(builders.slow_gateway(), "old", shift_s=-7200)
    group_all()
    claimed = failures.claim_new_groups(now_ns=BASE_NS + 60 * S)
    assert [g.operation for g in claimed] == ["UPDATE orders_order"]
    assert failures.claim_new_groups(now_ns=BASE_NS + 60 * S) == []
    assert not FailureGroup.objects.filter(alerted_at__isnull=True).exists()


def test_a_failure_is_announced_before_a_slow_trace_seen_earlier():
    """The mail opens with its first group: a failed order is the news, not the slow trace
    that came a minute before it."""
    stored(builders.slow_gateway(), "slow")
    group_all()  # filed first, by a run before the failure settled
    stored(builders.retried_db_timeouts(), "failed", shift_s=60)
    group_all()
    claimed = failures.claim_new_groups(now_ns=BASE_NS + 120 * S)
    assert [g.kind for g in claimed] == ["error", "slow"]


def test_retention_removes_a_trace_with_its_group_membership():
    """Removing a trace (retention) removes its row in the group: counts follow what is kept."""
    trace_id, _ = stored(builders.retried_db_timeouts(), "gone")
    group_all()
    Trace.objects.filter(trace_id=trace_id).delete()
    Span.objects.filter(trace_id=trace_id).delete()
    assert not TraceFailure.objects.exists()
    assert FailureGroup.objects.count() == 1  # the group stays: it was seen


def test_each_order_gets_its_group_for_the_admin_in_one_lookup():
    """The seam the order admin calls: the grouped orders with their group's label and link."""
    _, order_id = stored(builders.retried_db_timeouts(), "admin")
    group_all()
    found = failures.order_failure_groups([order_id, str(uuid.uuid4())])
    assert list(found) == [order_id]
    group = FailureGroup.objects.get()
    assert found[order_id].label == "UPDATE orders_order: database timeout (order_db_timeout)"
    assert found[order_id].title == (
        "orders-worker · UPDATE orders_order · database timeout · sqlite3.OperationalError"
        " · fault order_db_timeout"
    )
    assert found[order_id].path == f"/traces/failures/#group-{group.pk}"


def test_operation_folds_ids_out_of_urls():
    trace = TraceBuilder()
    root = trace.span("run/orders.finalize_order", service="orders-worker", start=0, ms=5)
    call = trace.failed_call(
        root, f"api/payments/payments/{uuid.uuid4()}/capture/", start=1, error=builders.UNREACHABLE
    )
    assert failures.operation_of(call) == "POST /api/payments/payments/<id>/capture/"
    assert failures.operation_of(root) == "run/orders.finalize_order"
