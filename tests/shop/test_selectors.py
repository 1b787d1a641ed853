"""The shop's reads about customers: the tier an email is owed."""

from __future__ import annotations

import pytest

from shop.models import Customer
from shop.selectors import customer_tier

pytestmark = pytest.mark.django_db


def test_a_known_customer_gets_their_tier():
    """The tier recorded for the email is the one answered."""
    Customer.objects.create(email="vip@example.com", tier=Customer.Tier.PREMIUM)
    Customer.objects.create(email="trial@example.com", tier=Customer.Tier.FREE)
    assert customer_tier("vip@example.com") == "premium"
    assert customer_tier("trial@example.com") == "free"


def test_the_lookup_ignores_case_and_surrounding_spaces():
    """The customer typed their address with capitals at checkout: still the same customer."""
    Customer.objects.create(email="vip@example.com", tier=Customer.Tier.PREMIUM)
    assert customer_tier(" VIP@Example.com ") == "premium"


def test_an_unknown_email_is_standard():
    """A first-time buyer is neither penalised nor promoted."""
    assert customer_tier("nobody@example.com") == "standard"
    assert type(customer_tier("nobody@example.com")) is str  # a plain value, fit for baggage
