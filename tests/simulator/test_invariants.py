"""The invariant checks on measured numbers: a balanced run passes, a broken one fails
with the numbers that broke."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from simulator.invariants import check_money, check_none_lost, check_stock, check_terminal
from tests.simulator.runs import BEFORE, LAPTOP, MOUSE, after, attempt, summary, total


def test_stock_checks_pass_when_sold_grew_by_the_confirmed_units():
    """2 laptops and 3 mice confirmed, nothing reserved: conserved, unreserved, sold matches."""
    checks = check_stock(BEFORE, after({LAPTOP: (0, 2), MOUSE: (0, 3)}), Counter({LAPTOP: 2, MOUSE: 3}))
    assert [check.passed for check in checks] == [True, True, True]
    assert "sold +5 units, confirmed orders hold 5 units" in checks[2].detail


def test_stock_left_reserved_fails_and_names_the_sku():
    """A reservation never committed nor released leaves units reserved: that check fails."""
    checks = check_stock(BEFORE, after({LAPTOP: (1, 2)}), Counter({LAPTOP: 2}))
    by_name = {check.name: check for check in checks}
    assert not by_name["nothing left reserved"].passed
    assert f"{LAPTOP}: reserved 0 -> 1" in by_name["nothing left reserved"].detail
    assert by_name["stock conserved"].passed and by_name["sold = units of confirmed orders"].passed


def test_sold_off_by_one_unit_fails():
    """Sold grew by one unit more than the confirmed orders hold (a sale nobody was told of)."""
    checks = check_stock(BEFORE, after({MOUSE: (0, 4)}), Counter({MOUSE: 3}))
    sold = next(check for check in checks if check.name == "sold = units of confirmed orders")
    assert not sold.passed
    assert f"{MOUSE}: sold +4, confirmed orders hold 3" in sold.detail


def test_units_not_adding_up_or_stock_received_during_the_run_fail_conservation():
    """on_hand must equal available + reserved + sold, and stay what it was before the run."""
    broken = [replace(item, available=item.available - 1) if item.sku == MOUSE else item for item in BEFORE]
    assert not check_stock(BEFORE, broken, Counter())[0].passed
    received = [replace(item, on_hand=item.on_hand + 10, available=item.available + 10) for item in BEFORE]
    conserved = check_stock(BEFORE, received, Counter())[0]
    assert not conserved.passed and f"{LAPTOP}: on_hand 25 -> 35" in conserved.detail


def test_money_balances_when_every_authorisation_was_captured_or_voided():
    """3 accepted orders: 2 confirmed (captured, their totals), 1 failed and voided; 1 declined."""
    money = summary(captured=total(2, 192899), voided=total(1, 2999), declined=total(1, 8900))
    checks = check_money(money, accepted=3, confirmed=2, confirmed_cents=192899)
    assert [check.passed for check in checks] == [True, True]
    assert checks[0].detail.startswith("3 authorisations = 2 captured + 1 voided + 0 refunded")


def test_an_authorisation_left_open_fails():
    """A payment still authorised after every order finished is money held for nothing."""
    money = summary(authorized=total(1, 2999), captured=total(2, 192899))
    settled, _ = check_money(money, accepted=3, confirmed=2, confirmed_cents=192899)
    assert not settled.passed and "1 still authorised" in settled.detail


def test_an_accepted_order_without_an_authorisation_fails():
    """Every 202 means an approved authorisation; fewer authorisations than 202s is a hole."""
    settled, _ = check_money(summary(captured=total(2, 5998)), accepted=3, confirmed=2, confirmed_cents=5998)
    assert not settled.passed


def test_captures_not_matching_the_confirmed_orders_fail():
    """Captured cents must be the confirmed orders' totals, to the cent."""
    _, captures = check_money(summary(captured=total(2, 5998)), accepted=2, confirmed=2, confirmed_cents=5999)
    assert not captures.passed
    assert "2 captured for 5998 cents; 2 confirmed orders total 5999 cents" == captures.detail


def test_orders_not_terminal_are_flagged_and_unreadable_ones_are_lost():
    """An order still placed fails "every order terminal"; a 202 order id answering 404
    fails "no order lost"."""
    attempts = [attempt(1, "confirmed"), attempt(2, "placed"), replace(attempt(3, ""), readable=False)]
    terminal = check_terminal(attempts, timeout=5)
    assert not terminal.passed and "1 of 2 orders" in terminal.detail and "1 placed" in terminal.detail
    lost = check_none_lost(attempts)
    assert not lost.passed and attempts[2].order_id in lost.detail


def test_an_order_still_being_undone_is_not_terminal():
    """A failing order (compensation still voiding and releasing) is open, not failed:
    the run waits for it and, at the timeout, reports it stuck as failing."""
    attempts = [attempt(1, "failed"), attempt(2, "failing")]
    terminal = check_terminal(attempts, timeout=5)
    assert not terminal.passed and "still open: 1 failing" in terminal.detail


def test_payments_cancelled_before_any_authorisation_are_not_authorisations():
    """A failed order whose card was never asked has a cancelled payment for no money: it
    is named in the detail and counts neither as an authorisation nor as money held."""
    money = summary(captured=total(1, 2999), cancelled=total(2, 0))
    settled, _ = check_money(money, accepted=1, confirmed=1, confirmed_cents=2999)
    assert settled.passed
    assert settled.detail.startswith("1 authorisations = 1 captured")
    assert "2 cancelled before any authorisation" in settled.detail
