"""Money is exact: integer cents from the basket to the capture, for any prices and
quantities (a Hypothesis property over the real services and database)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services as orders_services
from orders.models import Order
from payments import services as payments_services
from payments.models import Payment

lines = st.lists(
    st.builds(
        orders_services.LineInput,
        sku=st.sampled_from(["A", "B", "C", "D"]),
        name=st.just("thing"),
        quantity=st.integers(1, 100),
        unit_price_cents=st.integers(1, 2_000_000),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(basket=lines)
def test_line_totals_order_total_authorised_and_captured_amounts_agree(basket):
    """sum(quantity × unit price) = order total = amount authorised = amount captured."""
    order = orders_services.order_create(email="ada@example.com", lines=basket)
    expected = sum(line.quantity * line.unit_price_cents for line in basket)
    stored = Order.objects.get(pk=order.pk)
    assert stored.total_cents == expected == sum(line.total_cents for line in stored.lines.all())
    assert isinstance(stored.total_cents, int)

    payments_services.payment_authorize(order_id=order.pk, amount_cents=stored.total_cents, token="tok_ok")
    payments_services.payment_capture(order_id=order.pk)
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.amount_cents, payment.status) == (expected, Payment.Status.CAPTURED)
