"""The customers the shop knows: one per email address whatever its case, standard unless
made otherwise, with the same tiers orders records."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from orders.models import Order
from shop.models import Customer

pytestmark = pytest.mark.django_db


def test_a_new_customer_is_standard():
    """A customer made without a tier is standard."""
    assert Customer.objects.create(email="ada@example.com").tier == Customer.Tier.STANDARD


def test_clean_normalises_the_email_to_lower_case():
    """An address typed with capitals (as in the admin) is stored lower-case."""
    customer = Customer(email="Ada.Lovelace@Example.COM", tier=Customer.Tier.PREMIUM)
    customer.full_clean()
    assert customer.email == "ada.lovelace@example.com"


def test_the_same_address_in_another_case_is_refused_by_the_database():
    """Even written around ``clean()``, one address cannot belong to two customers."""
    Customer.objects.create(email="ada@example.com")
    with pytest.raises(IntegrityError):
        Customer.objects.create(email="ADA@example.com")


def test_the_same_address_in_another_case_is_a_validation_error():
    """The admin's form says the address is taken instead of failing on save."""
    Customer.objects.create(email="ada@example.com")
    with pytest.raises(ValidationError):
        Customer(email="Ada@Example.com").full_clean()


def test_the_shop_and_orders_know_the_same_tiers():
    """Orders mirrors the shop's tiers (it imports no shop): the two lists must agree."""
    assert Customer.Tier.choices == Order.CustomerTier.choices
