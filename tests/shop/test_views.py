"""The storefront's order page, rendered from orders' real API: it says where the order
stands and keeps refreshing until the order is confirmed or failed."""

from __future__ import annotations

import pytest

from orders import services as order_services
from orders.models import Order

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_the_page_of_an_order_being_undone_says_so_and_keeps_refreshing(client, services_url):
    """A failing order shows its status, that its payment is being undone, and its
    reason; the page refreshes until the order is failed."""
    line = order_services.LineInput(
        sku="MOUSE-WIRELESS", name="Wireless mouse", quantity=1, unit_price_cents=2999
    )
    order = order_services.order_create(email="ada@example.com", lines=[line])
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FAILING, reason="finalize gave up")

    page = client.get(f"/orders/{order.id}/").content.decode()

    assert 'class="status status-failing"' in page
    assert "being voided or refunded" in page and "finalize gave up" in page
    assert '<meta http-equiv="refresh"' in page
