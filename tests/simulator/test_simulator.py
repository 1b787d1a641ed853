"""The order simulator's parts: baskets, percentiles and the invariant checks on measured
numbers (a balanced run passes, a broken one fails with the numbers that broke), and one
real run against a live server whose orders never finish, which must be flagged stuck."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from inventory.client import StockLevel
from payments.client import PaymentSummary, PaymentTotal
from shop.demo import CATALOGUE
from simulator import driver as simulator
from simulator.driver import Attempt, Line

# The demo catalogue's stock, as inventory's stock API answers it before any order.
BEFORE = [StockLevel(sku=sku, available=n, on_hand=n, reserved=0, sold=0) for sku, _, _, _, n in CATALOGUE]
LAPTOP, MOUSE = "LAPTOP-GAMING-15", "MOUSE-WIRELESS"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def level(levels: list[StockLevel], sku: str) -> StockLevel:
    return next(item for item in levels if item.sku == sku)


def after(changes: dict[str, tuple[int, int]]) -> list[StockLevel]:
    """BEFORE with (reserved, sold) changed for some SKUs; available follows, as the API's does."""
    levels = []
    for item in BEFORE:
        reserved, sold = changes.get(item.sku, (0, 0))
        levels.append(replace(item, reserved=reserved, sold=sold, available=item.on_hand - reserved - sold))
    return levels


def total(count: int = 0, cents: int = 0) -> PaymentTotal:
    return PaymentTotal(count=count, amount_cents=cents)


def summary(**totals: PaymentTotal) -> PaymentSummary:
    fields = {
        name: total() for name in ("authorized", "captured", "voided", "refunded", "declined", "cancelled")
    }
    return PaymentSummary(**{**fields, **totals})


def attempt(
    index: int, status: str, *, http_status: int = 202, basket=(), total_cents: int = 0, **kw
) -> Attempt:
    return Attempt(
        index=index,
        basket=tuple(basket),
        http_status=http_status,
        order_id=f"00000000-0000-0000-0000-{index:012d}",
        status=status,
        readable=True,
        total_cents=total_cents,
        **kw,
    )


# --- baskets and percentiles ---------------------------------------------------------------


def test_baskets_hold_one_to_three_different_skus_of_one_or_two_units():
    """Every basket has 1-3 lines, no SKU twice, 1-2 units a line, SKUs from the catalogue."""
    skus = [sku for sku, *_ in CATALOGUE]
    for basket in simulator.make_baskets(skus, 500, seed=3):
        assert 1 <= len(basket) <= 3
        assert len({line.sku for line in basket}) == len(basket)
        assert all(line.sku in skus and line.quantity in (1, 2) for line in basket)


def test_the_same_seed_gives_the_same_baskets_whatever_the_catalogue_order():
    """A seed reproduces the baskets (the catalogue is sorted first); another seed gives others."""
    skus = [sku for sku, *_ in CATALOGUE]
    first = simulator.make_baskets(skus, 50, seed=7)
    assert simulator.make_baskets(list(reversed(skus)), 50, seed=7) == first
    assert simulator.make_baskets(skus, 50, seed=8) != first


def test_percentile_is_nearest_rank():
    """p50 of 1..100 is 50, p95 is 95, p99 is 99, p100 the maximum: always a measured value."""
    values = [float(n) for n in range(100, 0, -1)]
    assert [simulator.percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]


def test_percentile_of_few_values_and_of_none():
    """With 3 values p50 is the middle one and p95/p99 the largest; no values give None."""
    assert simulator.percentile([30.0, 10.0, 20.0], 50) == 20.0
    assert simulator.percentile([30.0, 10.0, 20.0], 95) == 30.0
    assert simulator.percentile([12.5], 99) == 12.5
    assert simulator.percentile([], 50) is None


# --- invariant checks ----------------------------------------------------------------------


def test_stock_checks_pass_when_sold_grew_by_the_confirmed_units():
    """2 laptops and 3 mice confirmed, nothing reserved: conserved, unreserved, sold matches."""
    checks = simulator.check_stock(
        BEFORE, after({LAPTOP: (0, 2), MOUSE: (0, 3)}), Counter({LAPTOP: 2, MOUSE: 3})
    )
    assert [check.passed for check in checks] == [True, True, True]
    assert "sold +5 units, confirmed orders hold 5 units" in checks[2].detail


def test_stock_left_reserved_fails_and_names_the_sku():
    """A reservation never committed nor released leaves units reserved: that check fails."""
    checks = simulator.check_stock(BEFORE, after({LAPTOP: (1, 2)}), Counter({LAPTOP: 2}))
    by_name = {check.name: check for check in checks}
    assert not by_name["nothing left reserved"].passed
    assert f"{LAPTOP}: reserved 0 -> 1" in by_name["nothing left reserved"].detail
    assert by_name["stock conserved"].passed and by_name["sold = units of confirmed orders"].passed


def test_sold_off_by_one_unit_fails():
    """Sold grew by one unit more than the confirmed orders hold (a sale nobody was told of)."""
    checks = simulator.check_stock(BEFORE, after({MOUSE: (0, 4)}), Counter({MOUSE: 3}))
    sold = next(check for check in checks if check.name == "sold = units of confirmed orders")
    assert not sold.passed
    assert f"{MOUSE}: sold +4, confirmed orders hold 3" in sold.detail


def test_units_not_adding_up_or_stock_received_during_the_run_fail_conservation():
    """on_hand must equal available + reserved + sold, and stay what it was before the run."""
    broken = [replace(item, available=item.available - 1) if item.sku == MOUSE else item for item in BEFORE]
    assert not simulator.check_stock(BEFORE, broken, Counter())[0].passed
    received = [replace(item, on_hand=item.on_hand + 10, available=item.available + 10) for item in BEFORE]
    conserved = simulator.check_stock(BEFORE, received, Counter())[0]
    assert not conserved.passed and f"{LAPTOP}: on_hand 25 -> 35" in conserved.detail


def test_money_balances_when_every_authorisation_was_captured_or_voided():
    """3 accepted orders: 2 confirmed (captured, their totals), 1 failed and voided; 1 declined."""
    money = summary(captured=total(2, 192899), voided=total(1, 2999), declined=total(1, 8900))
    checks = simulator.check_money(money, accepted=3, confirmed=2, confirmed_cents=192899)
    assert [check.passed for check in checks] == [True, True]
    assert checks[0].detail.startswith("3 authorisations = 2 captured + 1 voided + 0 refunded")


def test_an_authorisation_left_open_fails():
    """A payment still authorised after every order finished is money held for nothing."""
    money = summary(authorized=total(1, 2999), captured=total(2, 192899))
    settled, _ = simulator.check_money(money, accepted=3, confirmed=2, confirmed_cents=192899)
    assert not settled.passed and "1 still authorised" in settled.detail


def test_an_accepted_order_without_an_authorisation_fails():
    """Every 202 means an approved authorisation; fewer authorisations than 202s is a hole."""
    settled, _ = simulator.check_money(
        summary(captured=total(2, 5998)), accepted=3, confirmed=2, confirmed_cents=5998
    )
    assert not settled.passed


def test_captures_not_matching_the_confirmed_orders_fail():
    """Captured cents must be the confirmed orders' totals, to the cent."""
    _, captures = simulator.check_money(
        summary(captured=total(2, 5998)), accepted=2, confirmed=2, confirmed_cents=5999
    )
    assert not captures.passed
    assert "2 captured for 5998 cents; 2 confirmed orders total 5999 cents" == captures.detail


def test_orders_not_terminal_are_flagged_and_unreadable_ones_are_lost():
    """An order still placed fails "every order terminal"; a 202 order id answering 404
    fails "no order lost"."""
    attempts = [attempt(1, "confirmed"), attempt(2, "placed"), replace(attempt(3, ""), readable=False)]
    terminal = simulator.check_terminal(attempts, timeout=5)
    assert not terminal.passed and "1 of 2 orders" in terminal.detail and "1 placed" in terminal.detail
    lost = simulator.check_none_lost(attempts)
    assert not lost.passed and attempts[2].order_id in lost.detail


def test_an_order_still_being_undone_is_not_terminal():
    """A failing order (compensation still voiding and releasing) is open, not failed:
    the run waits for it and, at the timeout, reports it stuck as failing."""
    attempts = [attempt(1, "failed"), attempt(2, "failing")]
    terminal = simulator.check_terminal(attempts, timeout=5)
    assert not terminal.passed and "still open: 1 failing" in terminal.detail


def test_payments_cancelled_before_any_authorisation_are_not_authorisations():
    """A failed order whose card was never asked has a cancelled payment for no money: it
    is named in the detail and counts neither as an authorisation nor as money held."""
    money = summary(captured=total(1, 2999), cancelled=total(2, 0))
    settled, _ = simulator.check_money(money, accepted=1, confirmed=1, confirmed_cents=2999)
    assert settled.passed
    assert settled.detail.startswith("1 authorisations = 1 captured")
    assert "2 cancelled before any authorisation" in settled.detail


def test_report_groups_failures_by_reason_and_is_json():
    """Failed orders are counted by the reason's code; refusals by HTTP status; the report is JSON."""
    mouse = (Line(MOUSE, 1),)
    attempts = [
        attempt(
            1,
            "confirmed",
            basket=mouse,
            total_cents=2999,
            created_at=T0,
            confirmed_at=T0 + timedelta(seconds=1),
            checkout_ms=80.0,
        ),
        attempt(
            2,
            "failed",
            http_status=409,
            reason="insufficient_stock: Not enough stock for X.",
            checkout_ms=40.0,
        ),
        attempt(
            3,
            "failed",
            http_status=409,
            reason="insufficient_stock: Not enough stock for Y.",
            checkout_ms=30.0,
        ),
        attempt(
            4,
            "failed",
            basket=mouse,
            total_cents=2999,
            reason="finalize gave up after 4 attempts: OperationalError: interrupted",
            checkout_ms=90.0,
        ),
    ]
    config = simulator.RunConfig(url="http://shop", orders=4, concurrency=2, timeout=10, seed=1)
    money = summary(captured=total(1, 2999), voided=total(1, 2999))
    report = simulator.build_report(config, attempts, BEFORE, after({MOUSE: (0, 1)}), money, 1.0, 2.0)
    assert report.answers == {"202": 2, "409": 2}
    assert report.failed_by_reason == {"insufficient_stock": 2, "finalize gave up after 4 attempts": 1}
    assert report.confirmation_ms == {"p50": 1000.0, "p95": 1000.0}
    assert [row.checkout_ms for row in report.slowest[:2]] == [90.0, 80.0]
    assert report.passed, simulator.render(report)
    assert json.loads(json.dumps(report.as_dict(), default=str))["passed"] is True


# --- a real run ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_run_whose_orders_never_finish_reports_them_stuck(services_url, catalogue):
    """Against a live server with no worker (tasks go to an in-memory broker) the orders stay
    placed: the run must say so, FAIL the terminal and money checks, and lose nothing."""
    config = simulator.RunConfig(
        url=services_url, orders=4, concurrency=2, timeout=0.5, seed=5, progress=False
    )
    report = simulator.run(config)
    checks = {check.name: check for check in report.checks}
    assert report.answers == {"202": 4}
    assert len(report.stuck) == 4 and {row.status for row in report.stuck} == {"placed"}
    assert all(row.trace_id for row in report.stuck)
    assert not checks["every order terminal"].passed
    assert not checks["nothing left reserved"].passed
    assert not checks["authorisations = captures + voids + refunds"].passed  # 4 still authorised
    assert checks["no order lost"].passed and checks["stock conserved"].passed
    assert not report.passed
    assert "FAIL every order terminal: 0 of 4 orders" in simulator.render(report)


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_the_command_exits_1_on_a_failed_invariant_and_can_print_json(services_url, catalogue):
    """simulate_orders raises CommandError with return code 1 when an invariant fails (here:
    orders never finish); --json - puts the JSON report on stdout and the text on stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    args = ["--orders", "2", "--concurrency", "2", "--timeout", "0.3", "--seed", "1", "--json", "-"]
    with pytest.raises(CommandError) as failed:
        call_command("simulate_orders", *args, "--url", services_url, stdout=stdout, stderr=stderr)
    assert failed.value.returncode == 1
    report = json.loads(stdout.getvalue())
    assert report["passed"] is False and len(report["stuck"]) == 2 and report["seed"] == 1
    assert "FAIL every order terminal" in stderr.getvalue()


def test_status_polls_carry_an_unsampled_trace_context():
    """The shop's parent-based sampler honours the flag: a poll records no spans."""
    first, second = simulator.untraced_headers(), simulator.untraced_headers()
    context = get_current_span(TraceContextTextMapPropagator().extract(first)).get_span_context()
    assert context.is_valid and context.is_remote
    assert not context.trace_flags.sampled
    assert first != second  # a trace id of its own per poll
