"""How the storefront writes money: integer cents as euros in the visitor's locale
("€1,899.00" in English, "1.899,00 €" in German), never as cents.

The locale is the customer's (``CUSTOMER_LOCALE``, set for a storefront request by
``shop.middleware.StorefrontLocaleMiddleware``); it writes numbers only. The pages' words
are the shop's one language, English, and so are Django's own (a form's error messages): a
German browser reading "Enter a valid email address." beside "29,99 €" is the shop's
choice, not one page in two languages."""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal

from django.utils import formats, translation

from core.text import counted

CUSTOMER_LOCALE: ContextVar[str | None] = ContextVar("customer_locale", default=None)

# Languages that write the symbol before the amount; the others (most of the euro area)
# write it after, with a space.
SYMBOL_FIRST = ("en", "ga", "mt")


def format_price(cents: int, language: str | None = None) -> str:
    """``cents`` as a euro amount with two decimals and grouped thousands, in ``language``
    (by default the customer's locale, else the active language)."""
    language = language or CUSTOMER_LOCALE.get() or translation.get_language() or "en"
    with translation.override(language):
        amount = formats.number_format(
            Decimal(cents) / 100, decimal_pos=2, use_l10n=True, force_grouping=True
        )
    if language.split("-")[0] in SYMBOL_FIRST:
        return f"€{amount}"
    return f"{amount}\u00a0€"


def count_items(quantity: int) -> str:
    """ "1 item", "2 items"."""
    return counted(quantity, "item")
