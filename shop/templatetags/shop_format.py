"""Template filters for the storefront: ``{{ cents|price }}`` and ``{{ n|items }}``."""

from django import template

from shop.formatting import count_items, format_price

register = template.Library()


@register.filter
def price(cents: int) -> str:
    return format_price(int(cents))


@register.filter
def items(quantity: int) -> str:
    return count_items(int(quantity))
