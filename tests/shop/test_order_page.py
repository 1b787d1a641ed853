"""The order page's sentences: for each way an order ends, what happened, what it means for
the customer's money and what to do, with no internal code or exception in them."""

from __future__ import annotations

import dataclasses

import pytest

from orders.client import OrderInfo, OrderLineInfo
from shop.order_page import placed_at, reference, staff_events, summarise

ORDER = OrderInfo(
    order_id="3f2a9c1e-0000-4000-8000-000000000001",
    status="placed",
    reason="",
    email="ada@example.com",
    customer_tier="standard",
    total_cents=5900,
    currency="EUR",
    trace_id="0af7651916cd43dd8448eb211c80319c",
    confirmation_code="",
    lines=(OrderLineInfo("HEADSET-USB", "USB headset", 1, 5900),),
    events=(
        {
            "kind": "created",
            "message": "1 lines, 5900 cents",
            "trace_id": "",
            "at": "2026-12-03T07:45:01.123456Z",
        },
    ),
)


def order(status: str, reason: str = "", *kinds: str, **fields) -> OrderInfo:
    events = ORDER.events + tuple(
        {"kind": k, "message": "", "trace_id": "", "at": "2026-12-03T07:45:02Z"} for k in kinds
    )
    return dataclasses.replace(ORDER, status=status, reason=reason, events=events, **fields)


def text(summary) -> str:
    return " ".join([summary.headline, summary.happened, summary.money, summary.next_step])


def test_a_confirmed_order_says_the_card_was_charged_the_total_in_euros():
    summary = summarise(
        order("confirmed", "", "confirmed", "email_confirmed", confirmation_code="TL-3F2A9C1E00")
    )
    assert summary.tone == "good" and not summary.in_progress
    assert "charged €59.00" in summary.money
    assert "confirmation email was sent to ada@example.com" in summary.happened


def test_an_order_being_confirmed_says_the_money_is_only_reserved_and_refreshes():
    summary = summarise(order("placed"))
    assert summary.in_progress and summary.tone == "waiting"
    assert "reserved on your card" in summary.money and "charged only once" in summary.money


def test_an_order_whose_capture_reported_before_its_commit_says_the_card_was_charged():
    summary = summarise(order("placed", "", "steps_requested", "capture_done"))
    assert summary.in_progress
    assert "charged €59.00" in summary.money and "reserved" not in summary.money


def test_a_failure_of_ours_says_not_charged_and_hides_the_exception():
    reason = "finalize gave up after 4 attempts: OperationalError: interrupted"
    summary = summarise(
        order("failed", reason, "finalize_gave_up", "failing", "payment_voided", "failed", "email_failed")
    )
    assert summary.tone == "bad" and not summary.in_progress
    assert "problem on our side" in summary.happened
    assert "We have emailed ada@example.com" in summary.happened
    assert "not charged" in summary.money
    assert "try again" in summary.next_step
    for internal in ("finalize", "OperationalError", "payment_voided", "email_failed", "attempts"):
        assert internal not in text(summary)


def test_a_refunded_order_says_the_money_came_back():
    summary = summarise(order("failed", "finalize gave up", "payment_refunded", "failed"))
    assert "charged €59.00" in summary.money and "refunded" in summary.money


@pytest.mark.parametrize(
    ("reason", "why", "todo"),
    [
        ("payment_declined: The card was declined.", "card was declined", "another card"),
        ("insufficient_stock: Not enough HEADSET-USB.", "sold out", "in stock"),
        ("service_unavailable: The shop cannot complete this right now", "on our side", "try again"),
    ],
)
def test_a_refused_checkout_says_why_in_words_and_what_to_do(reason, why, todo):
    summary = summarise(order("failed", reason, "payment_declined", "failed"))
    assert why in summary.happened and todo in summary.next_step
    assert "not charged" in summary.money
    assert reason.split(":")[0] not in text(summary)


def test_an_order_being_undone_says_the_payment_is_being_cancelled_and_refreshes():
    summary = summarise(order("failing", "finalize gave up after 4 attempts: OperationalError"))
    assert summary.in_progress and "will not pay" in summary.money
    assert "OperationalError" not in text(summary)


def test_the_reference_is_the_confirmation_code_once_there_is_one():
    assert reference(order("placed")) == "3F2A9C1E"
    assert reference(order("confirmed", confirmation_code="TL-3F2A9C1E00")) == "TL-3F2A9C1E00"


def test_the_order_was_placed_when_its_first_event_was_recorded():
    at = placed_at(ORDER)
    assert at is not None and at.isoformat() == "2026-12-03T07:45:01.123456+00:00"


def test_staff_read_event_times_to_the_millisecond():
    """A retry schedule reads as one: 07:45:01.123, not 07:45:01."""
    assert [event["at_text"] for event in staff_events(order("placed", "", "placed"))] == [
        "2026-12-03 07:45:01.123",
        "2026-12-03 07:45:02.000",
    ]
