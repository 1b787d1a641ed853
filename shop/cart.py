"""The cart, kept in the session as {sku: quantity}."""

from __future__ import annotations

SESSION_KEY = "cart"


def cart_items(session) -> dict[str, int]:
    return dict(session.get(SESSION_KEY, {}))


def cart_add(session, sku: str, quantity: int = 1) -> None:
    items = cart_items(session)
    items[sku] = max(0, items.get(sku, 0) + quantity)
    session[SESSION_KEY] = {sku: qty for sku, qty in items.items() if qty > 0}


def cart_remove(session, sku: str) -> None:
    items = cart_items(session)
    items.pop(sku, None)
    session[SESSION_KEY] = items


def cart_clear(session) -> None:
    session[SESSION_KEY] = {}


def cart_set(session, sku: str, quantity: int) -> None:
    """Set the quantity of one line; 0 takes it out."""
    items = cart_items(session)
    items[sku] = max(0, quantity)
    session[SESSION_KEY] = {sku: qty for sku, qty in items.items() if qty > 0}
