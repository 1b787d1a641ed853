"""How the storefront writes money: integer cents as euros in the visitor's locale
("€1,899.00" in English, "1.899,00 €" in German), never as cents."""

from __future__ import annotations

from decimal import Decimal

from django.utils import formats, translation

# Languages that write the symbol before the amount; the others (most of the euro area)
# write it after, with a space.
SYMBOL_FIRST = ("en", "ga", "mt")


def format_price(cents: int, language: str | None = None) -> str:
    """``cents`` as a euro amount with two decimals and grouped thousands, in ``language``
    (the active one by default)."""
    language = language or translation.get_language() or "en"
    with translation.override(language):
        amount = formats.number_format(
            Decimal(cents) / 100, decimal_pos=2, use_l10n=True, force_grouping=True
        )
    if language.split("-")[0] in SYMBOL_FIRST:
        return f"€{amount}"
    return f"{amount}\u00a0€"


def count_items(quantity: int) -> str:
    """ "1 item", "2 items"."""
    return f"{quantity} item" if quantity == 1 else f"{quantity} items"
