"""Customers in the admin: listed with their tier, filtered by tier, found by email, and
one address cannot be added twice in another case."""

from __future__ import annotations

import pytest
from django.contrib import admin

from shop.admin import CustomerAdmin
from shop.models import Customer

pytestmark = pytest.mark.django_db(databases="__all__")  # admin pages read the trace store too

CHANGELIST = "/admin/shop/customer/"


@pytest.fixture
def customers() -> None:
    Customer.objects.create(email="vip@example.com", tier=Customer.Tier.PREMIUM)
    Customer.objects.create(email="trial@example.com", tier=Customer.Tier.FREE)
    Customer.objects.create(email="regular@example.com")


def test_customers_are_registered_with_tier_filter_and_email_search():
    """The list shows the tier, filters by it and searches by email."""
    model_admin = admin.site._registry[Customer]
    assert isinstance(model_admin, CustomerAdmin)
    assert "tier" in model_admin.list_display
    assert model_admin.list_filter == ("tier",)
    assert model_admin.search_fields == ("email",)


def test_the_tier_filter_lists_only_that_tier(admin_client, customers):
    """Filtering by premium lists the premium customers only."""
    html = admin_client.get(CHANGELIST, {"tier__exact": "premium"}).content.decode()
    assert "vip@example.com" in html
    assert "trial@example.com" not in html and "regular@example.com" not in html


def test_search_finds_a_customer_by_part_of_the_email(admin_client, customers):
    """Searching "trial" finds the free customer."""
    html = admin_client.get(CHANGELIST, {"q": "trial"}).content.decode()
    assert "trial@example.com" in html
    assert "vip@example.com" not in html


def test_adding_an_address_in_capitals_stores_it_lower_case(admin_client):
    """The admin's add form normalises the email, so the shop's lookup finds the customer."""
    response = admin_client.post(f"{CHANGELIST}add/", {"email": "New@Example.COM", "tier": "free"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Customer.objects.get().email == "new@example.com"


def test_adding_a_known_address_in_another_case_is_refused(admin_client, customers):
    """The form says the address is taken; no second customer is stored."""
    response = admin_client.post(f"{CHANGELIST}add/", {"email": "VIP@example.com", "tier": "free"})
    assert response.status_code == 200
    assert Customer.objects.filter(email__iexact="vip@example.com").count() == 1
