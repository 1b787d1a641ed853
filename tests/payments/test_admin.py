"""Payments in the admin are records of what the gateway did: shown, never edited."""

import uuid

import pytest

from payments.models import Payment

pytestmark = pytest.mark.django_db(databases="__all__")


def test_a_payment_cannot_be_changed_or_deleted_in_the_admin(admin_client):
    """Not even by a superuser, and no bulk delete on the list."""
    payment = Payment.objects.create(
        order_id=uuid.uuid4(), amount_cents=500, status=Payment.Status.AUTHORIZED
    )
    url = f"/admin/payments/payment/{payment.pk}/"
    assert admin_client.get(url + "change/").status_code == 200
    assert admin_client.post(url + "change/", {"amount_cents": 1}).status_code == 403
    assert admin_client.get(url + "delete/").status_code == 403
    assert "delete_selected" not in admin_client.get("/admin/payments/payment/").content.decode()
