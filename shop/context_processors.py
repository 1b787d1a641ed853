"""Puts the cart's item count on every storefront page."""

from shop.cart import cart_items


def cart(request) -> dict:
    session = getattr(request, "session", None)
    return {"cart_count": sum(cart_items(session).values()) if session is not None else 0}
