"""Payments' services against the database and the gateway simulator: every operation
is idempotent per order, and a declined card is an answer, not an error of the system."""

from __future__ import annotations

import uuid

import pytest
from django.db.models import QuerySet

from payments import gateway, services
from payments.errors import PaymentDeclined, PaymentNotFound, PaymentStateConflict
from payments.models import Payment

pytestmark = pytest.mark.django_db

Status = Payment.Status


@pytest.fixture
def gateway_calls(monkeypatch) -> list[str]:
    """Records every authorisation that reaches the gateway simulator (which still answers)."""
    calls: list[str] = []
    real = gateway.authorize

    def spy(**kwargs):
        calls.append(kwargs["idempotency_key"])
        return real(**kwargs)

    monkeypatch.setattr(gateway, "authorize", spy)
    return calls


def authorized(amount_cents: int = 1500) -> Payment:
    return services.payment_authorize(order_id=uuid.uuid4(), amount_cents=amount_cents, token="tok_ok")


def test_authorize_records_an_authorized_payment(gateway_calls):
    """An approved card gives one authorised payment with the gateway's reference."""
    order_id = uuid.uuid4()
    payment = services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    assert (payment.order_id, payment.amount_cents, payment.status) == (order_id, 1500, Status.AUTHORIZED)
    assert payment.gateway_reference.startswith("auth_")
    assert gateway_calls == [str(order_id)]


def test_authorize_twice_returns_the_same_payment_without_a_second_gateway_call(gateway_calls):
    """A repeated authorisation for an order returns the first row; the gateway is asked once."""
    order_id = uuid.uuid4()
    first = services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    again = services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert gateway_calls == [str(order_id)]


def test_repeat_keeps_the_first_answer_even_if_the_gateway_would_now_decline(faults):
    """Once authorised, a repeat does not go back to the gateway: a decline fault changes nothing."""
    order_id = uuid.uuid4()
    services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    faults({"payment_decline": 1.0})
    assert (
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok").status
        == Status.AUTHORIZED
    )


@pytest.mark.parametrize(
    ("token", "reason"), [("tok_decline", "card_declined"), ("tok_insufficient_funds", "insufficient_funds")]
)
def test_declining_token_raises_payment_declined_and_records_it(token, reason):
    """A declining card raises PaymentDeclined with the reason; the declined row is kept."""
    order_id = uuid.uuid4()
    with pytest.raises(PaymentDeclined) as declined:
        services.payment_authorize(order_id=order_id, amount_cents=1500, token=token)
    assert declined.value.extra == {"reason": reason}
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.decline_reason, payment.gateway_reference) == (
        Status.DECLINED,
        reason,
        "",
    )


def test_a_declined_order_stays_declined_on_retry(gateway_calls):
    """Retrying a declined order, even with a good card, re-raises the first decline."""
    order_id = uuid.uuid4()
    with pytest.raises(PaymentDeclined):
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_decline")
    with pytest.raises(PaymentDeclined):
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    assert gateway_calls == [str(order_id)]
    assert Payment.objects.get().status == Status.DECLINED


def test_a_different_amount_for_the_same_order_is_a_conflict():
    """An order authorised for one amount cannot be re-authorised for another."""
    payment = authorized(1500)
    with pytest.raises(PaymentStateConflict):
        services.payment_authorize(order_id=payment.order_id, amount_cents=1600, token="tok_ok")
    payment.refresh_from_db()
    assert (payment.amount_cents, payment.status) == (1500, Status.AUTHORIZED)


def test_payment_decline_fault_declines_good_cards(faults):
    """With the payment_decline fault at 1.0 even tok_ok is declined."""
    faults({"payment_decline": 1.0})
    with pytest.raises(PaymentDeclined) as declined:
        authorized()
    assert "injected fault" in declined.value.extra["reason"]
    assert Payment.objects.get().status == Status.DECLINED


def test_capture_moves_an_authorisation_to_captured_once():
    """Capture captures an authorisation; capturing again returns the captured payment."""
    payment = authorized()
    assert services.payment_capture(order_id=payment.order_id).status == Status.CAPTURED
    assert services.payment_capture(order_id=payment.order_id).status == Status.CAPTURED


def test_capture_without_a_payment_is_not_found():
    """Capturing an order that never paid raises PaymentNotFound."""
    with pytest.raises(PaymentNotFound):
        services.payment_capture(order_id=uuid.uuid4())


@pytest.mark.parametrize("token", ["tok_ok", "tok_decline"])
def test_capture_of_a_voided_or_declined_payment_is_a_conflict(token):
    """Only an authorisation can be captured: voided and declined payments are refused."""
    order_id = uuid.uuid4()
    try:
        services.payment_authorize(order_id=order_id, amount_cents=1500, token=token)
    except PaymentDeclined:
        pass
    services.payment_cancel(order_id=order_id)
    with pytest.raises(PaymentStateConflict):
        services.payment_capture(order_id=order_id)


def test_cancel_voids_an_authorisation():
    """Cancelling an authorised payment voids it; cancelling again changes nothing."""
    payment = authorized()
    assert services.payment_cancel(order_id=payment.order_id).status == Status.VOIDED
    assert services.payment_cancel(order_id=payment.order_id).status == Status.VOIDED


def test_cancel_refunds_a_capture():
    """Cancelling a captured payment refunds it; cancelling again changes nothing."""
    payment = authorized()
    services.payment_capture(order_id=payment.order_id)
    assert services.payment_cancel(order_id=payment.order_id).status == Status.REFUNDED
    assert services.payment_cancel(order_id=payment.order_id).status == Status.REFUNDED


def test_cancel_leaves_a_declined_payment_declined():
    """A declined payment took no money: cancelling it leaves it declined."""
    order_id = uuid.uuid4()
    with pytest.raises(PaymentDeclined):
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_decline")
    assert services.payment_cancel(order_id=order_id).status == Status.DECLINED


def test_cancel_of_an_order_that_never_paid_leaves_a_cancelled_marker():
    """Cancelling an order with no payment moves no money and leaves a ``cancelled`` row
    for no amount; cancelling again returns the same row."""
    order_id = uuid.uuid4()
    marker = services.payment_cancel(order_id=order_id)
    assert (marker.order_id, marker.status, marker.amount_cents, marker.gateway_reference) == (
        order_id,
        Status.CANCELLED,
        0,
        "",
    )
    assert services.payment_cancel(order_id=order_id).pk == marker.pk
    assert Payment.objects.count() == 1


# --- a late authorisation: it outlived the shop's timeout, the order was given up -----------


@pytest.fixture
def gateway_voids(monkeypatch) -> list[str]:
    """The references the gateway simulator was asked to void (it still voids them)."""
    calls: list[str] = []
    real = gateway.void

    def void(**kwargs):
        calls.append(kwargs["reference"])
        return real(**kwargs)

    monkeypatch.setattr(gateway, "void", void)
    return calls


def test_an_authorisation_after_its_cancel_is_refused_without_reaching_the_gateway(gateway_calls):
    """Once the order's payment was cancelled, an authorisation for it is a conflict and
    the card is never asked: no money is held."""
    order_id = uuid.uuid4()
    services.payment_cancel(order_id=order_id)
    with pytest.raises(PaymentStateConflict):
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    assert gateway_calls == []
    assert Payment.objects.get().status == Status.CANCELLED


def test_an_authorisation_that_lands_after_its_cancel_is_voided(monkeypatch, gateway_voids):
    """The gateway approves while the order's cancel has already run (the shop gave up
    waiting): the approval is recorded on the cancelled row and voided at once, and the
    authorisation answers a conflict. The money is released, never left authorised."""
    order_id = uuid.uuid4()
    real = gateway.authorize

    def approved_after_the_cancel(**kwargs):
        answer = real(**kwargs)
        services.payment_cancel(order_id=order_id)  # lands while the gateway is answering
        return answer

    monkeypatch.setattr(gateway, "authorize", approved_after_the_cancel)
    with pytest.raises(PaymentStateConflict):
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == (Status.VOIDED, 1500)
    assert gateway_voids == [payment.gateway_reference] and payment.gateway_reference.startswith("auth_")
    assert services.payment_cancel(order_id=order_id).status == Status.VOIDED  # and stays so
    assert gateway_voids == [payment.gateway_reference]


def test_a_decline_that_lands_after_its_cancel_voids_nothing(monkeypatch, gateway_voids):
    """A declined card held no money: the cancelled row stays, nothing is voided."""
    order_id = uuid.uuid4()
    real = gateway.authorize

    def declined_after_the_cancel(**kwargs):
        services.payment_cancel(order_id=order_id)
        return real(**kwargs)

    monkeypatch.setattr(gateway, "authorize", declined_after_the_cancel)
    with pytest.raises(PaymentStateConflict):
        services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_decline")
    assert Payment.objects.get().status == Status.CANCELLED
    assert gateway_voids == []


def test_a_cancel_whose_marker_loses_to_the_authorisation_voids_it(monkeypatch, gateway_voids):
    """The authorisation is recorded between the cancel's read (nothing yet) and its
    insert: the unique order id refuses the marker, and the cancel voids what it finds."""
    order_id = uuid.uuid4()
    real_get = QuerySet.get
    reads: list[dict] = []

    def read_just_before_the_authorisation(queryset, *args, **kwargs):
        if queryset.model is Payment and not reads:
            reads.append(kwargs)
            services.payment_authorize(order_id=order_id, amount_cents=1500, token="tok_ok")
            raise Payment.DoesNotExist  # what the cancel's read saw, a moment earlier
        return real_get(queryset, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "get", read_just_before_the_authorisation)
    assert services.payment_cancel(order_id=order_id).status == Status.VOIDED
    assert reads == [{"order_id": order_id}]
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == (Status.VOIDED, 1500)
    assert gateway_voids == [payment.gateway_reference]


def test_a_voided_payment_is_not_authorised_again(gateway_calls):
    """Authorising an order whose payment was voided is a conflict: the void stands."""
    payment = authorized()
    services.payment_cancel(order_id=payment.order_id)
    with pytest.raises(PaymentStateConflict):
        services.payment_authorize(order_id=payment.order_id, amount_cents=1500, token="tok_ok")
    assert Payment.objects.get().status == Status.VOIDED


def test_a_cancel_that_loses_the_race_to_a_capture_refunds_the_capture(monkeypatch):
    """A capture lands while the void is at the gateway: the cancel refunds instead, so
    the authorisation still ends in exactly one undo."""
    payment = authorized()
    real_void = gateway.void

    def void_while_a_capture_lands(**kwargs):
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.CAPTURED)
        return real_void(**kwargs)

    monkeypatch.setattr(gateway, "void", void_while_a_capture_lands)
    assert services.payment_cancel(order_id=payment.order_id).status == Payment.Status.REFUNDED


def test_a_capture_that_loses_the_race_to_a_void_is_refused(monkeypatch):
    """A void lands while the capture is at the gateway: the capture reports a conflict
    instead of answering as if it had captured."""
    payment = authorized()
    real_capture = gateway.capture

    def capture_while_a_void_lands(**kwargs):
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.VOIDED)
        return real_capture(**kwargs)

    monkeypatch.setattr(gateway, "capture", capture_while_a_void_lands)
    with pytest.raises(PaymentStateConflict):
        services.payment_capture(order_id=payment.order_id)
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.VOIDED
