"""The checkout saga's synchronous half, orchestrated by the shop over REST:
create the order (pending) → reserve stock → authorise payment → place it.

The customer is answered only after ``place`` committed the order with its outbox row,
so a 202 always means a durable order. A refusal (short stock, declined card) fails the
order, and orders undoes what was done. No database transaction is held across a call.

What the customer is told is a documented code: a refusal as its app worded it, and an
app that cannot be reached or answers what the shop did not expect as
``service_unavailable``, without the internal URL and status the error was raised with
(those are logged; ``for_customer``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass

from core.api import ApplicationError, ServiceUnavailable
from faults.checkpoints import checkpoint
from instrumentation import attributes
from instrumentation.context import baggage_cleared, get_tracer, order_baggage
from inventory import client as inventory_client
from orders import client as orders_client
from orders.errors import OrderStateConflict
from payments import client as payments_client
from shop.errors import CheckoutFailed, EmptyCart, UnknownProduct
from shop.models import normalise_email
from shop.selectors import customer_tier, products_by_sku

logger = logging.getLogger(__name__)
tracer = get_tracer(__name__)


UNAVAILABLE = "The shop cannot complete this right now; please try again in a moment."
# A checkout's idempotency key, from the API's header or the storefront form's hidden field:
# printable ASCII without spaces (a UUID, a ULID, a base64 token fit), as payment APIs take.
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


def scoped_key(email: str, key: str) -> str:
    """What the shop (and orders) store for ``key`` sent by the customer ``email``: scoped to
    the customer, so that the same key from two customers is two keys (neither learns of,
    nor blocks, the other's), and hashed, so that any key up to 255 characters fits the 64
    characters stored. The API and the storefront's form scope alike."""
    return hashlib.sha256(f"{normalise_email(email)}\n{key}".encode()).hexdigest()


@dataclass(frozen=True)
class CheckoutItem:
    sku: str
    quantity: int


def checkout(
    *, items: list[CheckoutItem], email: str, payment_token: str, idempotency_key: str | None = None
) -> orders_client.OrderInfo:
    """Run the checkout; return the placed order or raise the refusal's error.

    The customer's tier is the shop's own lookup, never the caller's baggage (a client could
    claim premium): it is recorded on the order and carried as baggage through every step."""
    try:
        return _checkout(
            items=items, email=email, payment_token=payment_token, idempotency_key=idempotency_key
        )
    except ApplicationError as error:
        public = for_customer(error)
        if public is error:
            raise
        raise public from error


def for_customer(error: ApplicationError) -> ApplicationError:
    """``error`` as the customer may see it. A documented refusal (its own class, its own
    code) is shown as it is; ``ServiceUnavailable`` and a bare ``ApplicationError`` (an
    answer no client maps) carry the callee's URL and status in their message, so they
    become ``service_unavailable`` with a message of the shop's, keeping only the order id."""
    if type(error) not in (ApplicationError, ServiceUnavailable) or error.message == UNAVAILABLE:
        return error
    logger.warning("checkout answered service_unavailable for: %s (%s)", error.message, error.code)
    order_id = error.extra.get("order_id")
    return ServiceUnavailable(UNAVAILABLE, extra={"order_id": order_id} if order_id else {})


def _checkout(
    *, items: list[CheckoutItem], email: str, payment_token: str, idempotency_key: str | None
) -> orders_client.OrderInfo:
    with baggage_cleared():
        tier = customer_tier(email)
    with order_baggage(tier=tier), tracer.start_as_current_span("checkout") as span:
        lines = _order_lines(items)
        span.set_attribute(attributes.ORDER_LINE_COUNT, len(lines))
        span.set_attribute(attributes.ORDER_ITEM_COUNT, sum(line.quantity for line in lines))
        order = orders_client.order_create(
            email=email, lines=lines, customer_tier=tier, idempotency_key=idempotency_key
        )
        span.set_attribute(attributes.ORDER_ID, order.order_id)
        span.set_attribute(attributes.ORDER_TOTAL_CENTS, order.total_cents)
        _checkpoint("checkout.after_create", order.order_id)
        with order_baggage(tier=tier, order_id=order.order_id):
            return _reserve_authorise_place(order, lines, payment_token)


def _reserve_authorise_place(
    order: orders_client.OrderInfo, lines: list[orders_client.OrderLineInfo], payment_token: str
) -> orders_client.OrderInfo:
    """The steps after the order exists: hold the stock, authorise the money, place it."""
    if order.status in ("failing", "failed"):  # the same checkout again, after it failed
        raise CheckoutFailed(
            f"This checkout already failed ({order.reason}); start a new one with a new key.",
            extra={"order_id": order.order_id, "reason": order.reason},
        )
    if order.status != "pending":  # the same checkout again: answer what the first got
        return order
    try:
        inventory_client.reservation_create(
            order_id=order.order_id, items=[(line.sku, line.quantity) for line in lines]
        )
        _checkpoint("checkout.after_reserve", order.order_id)
        payments_client.payment_authorize(
            order_id=order.order_id, amount_cents=order.total_cents, token=payment_token
        )
        _checkpoint("checkout.after_authorise", order.order_id)
    except ApplicationError as refusal:
        public = for_customer(refusal)  # the order's reason is shown to the customer too
        _fail(order.order_id, public)
        if public is refusal:
            raise
        raise public from refusal
    placed = _place(order.order_id)
    _checkpoint("checkout.after_place", order.order_id)
    return placed


def _checkpoint(name: str, order_id: str) -> None:
    """Where the web_crash_* faults kill this process (faults.checkpoints): the customer
    gets no answer, and what was done so far is left as a crash leaves it."""
    checkpoint(name, on_crash=lambda: logger.error("%s: killing this web process (order %s)", name, order_id))


def _place(order_id: str) -> orders_client.OrderInfo:
    """Place the order. If the answer is lost, a fresh read decides: a placed order is
    answered 202 (it is durable); one still pending is failed, and so is the checkout."""
    try:
        return orders_client.order_place(order_id=order_id)
    except ServiceUnavailable as failure:
        order = orders_client.order_get(order_id=order_id)
        if order.status in ("placed", "confirmed"):
            return order
        public = for_customer(failure)
        _fail(order_id, public)
        raise public from failure


def _fail(order_id: str, refusal: ApplicationError) -> None:
    """Fail the order and undo what was done. If that cannot be done now (an app is down),
    the order stays pending and ``orders.reconcile`` fails it after its deadline."""
    refusal.extra.setdefault("order_id", order_id)
    try:
        orders_client.order_fail(order_id=order_id, reason=f"{refusal.code}: {refusal.message}")
    except (ServiceUnavailable, OrderStateConflict):
        logger.warning("order %s stays pending until reconcile: %s", order_id, refusal.message)


def _order_lines(items: list[CheckoutItem]) -> list[orders_client.OrderLineInfo]:
    """Merge repeated SKUs and copy name and price from the catalogue."""
    if not items:
        raise EmptyCart("The basket is empty; add at least one item.")
    quantities: Counter[str] = Counter()
    for item in items:
        quantities[item.sku] += item.quantity
    products = products_by_sku(list(quantities))
    unknown = sorted(set(quantities) - set(products))
    if unknown:
        raise UnknownProduct(f"Unknown SKU: {', '.join(unknown)}.", extra={"skus": unknown})
    return [
        orders_client.OrderLineInfo(
            sku=sku, name=products[sku].name, quantity=quantity, unit_price_cents=products[sku].price_cents
        )
        for sku, quantity in quantities.items()
    ]
