"""Stock in the admin is configuration (on hand is edited), reservations are records
(read-only), and what stock is reserved or sold is counted, never typed in."""

import uuid

import pytest

from inventory.models import Reservation, StockItem

pytestmark = pytest.mark.django_db(databases="__all__")


def test_staff_set_what_is_on_hand_but_not_what_is_reserved_or_sold(admin_client):
    """A save changes on_hand; reserved and sold sent with it are ignored."""
    item = StockItem.objects.create(sku="MUG", on_hand=10, reserved=2, sold=3)
    sent = {"sku": "MUG", "on_hand": 20, "reserved": 0, "sold": 0}
    response = admin_client.post(f"/admin/inventory/stockitem/{item.pk}/change/", sent)
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.on_hand, item.reserved, item.sold) == (20, 2, 3)


def test_reservations_are_read_only(admin_client):
    """A reservation records what happened to an order's stock: no save, no delete."""
    reservation = Reservation.objects.create(order_id=uuid.uuid4())
    url = f"/admin/inventory/reservation/{reservation.pk}/"
    assert admin_client.get(url + "change/").status_code == 200
    assert admin_client.post(url + "change/", {"status": "released"}).status_code == 403
    assert admin_client.get(url + "delete/").status_code == 403
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.HELD
