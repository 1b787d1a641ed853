"""Euros in the visitor's locale, never cents; item counts in the right number."""

from __future__ import annotations

import pytest
from django.utils import translation

from shop.formatting import count_items, format_price


@pytest.mark.parametrize(
    ("cents", "language", "shown"),
    [
        (2999, "en", "€29.99"),
        (189900, "en-us", "€1,899.00"),
        (5, "en", "€0.05"),
        (189900, "de", "1.899,00\u00a0€"),
        (2999, "fr", "29,99\u00a0€"),
    ],
)
def test_prices_are_euros_in_the_languages_own_way(cents, language, shown):
    assert format_price(cents, language) == shown


def test_the_active_language_is_used_when_none_is_given():
    with translation.override("de"):
        assert format_price(5900) == "59,00\u00a0€"
    with translation.override("en"):
        assert format_price(5900) == "€59.00"


@pytest.mark.parametrize(("quantity", "shown"), [(0, "0 items"), (1, "1 item"), (2, "2 items")])
def test_item_counts_agree_in_number(quantity, shown):
    assert count_items(quantity) == shown
