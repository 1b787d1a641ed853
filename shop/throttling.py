"""The checkout's rate limit: each client (its address) may place ``SHOP_CHECKOUT_RATE``
checkouts; beyond it the checkout answers 429 with ``Retry-After``. One count per client,
whichever way it checks out: the API (``CheckoutRateThrottle`` on the view) and the
storefront's form (``form_checkout_wait``) add to the same counter.

The counters live in the cache (Redis in a deployment, config/settings.py), so every worker
and host counts one client together. A cache that does not answer lets the checkout through:
the throttle guards the shop against floods, and must not turn a Redis outage into a shop
outage (an order placed then is still kept by the outbox until the broker is back). The
check runs in a span of its own that says so when it happens (``threadline.tolerated``), so
that the diagnosis does not take the cache's refusal for the cause of what followed.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from instrumentation import attributes, names
from instrumentation.context import get_tracer

logger = logging.getLogger(__name__)
tracer = get_tracer(__name__)


class CheckoutRateThrottle(SimpleRateThrottle):
    """Checkouts per client address, at the rate the settings give when the request comes
    (DRF's scoped throttles read their rates once, at import)."""

    scope = "checkout"

    def get_rate(self) -> str:
        return settings.SHOP_CHECKOUT_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view) -> bool:
        with tracer.start_as_current_span(names.CHECKOUT_THROTTLE_SPAN) as span:
            try:
                return super().allow_request(request, view)
            except RedisError:
                what = "the cache did not answer; checkout let through"
                span.set_attribute(attributes.TOLERATED, what)
                logger.warning("checkout throttle: %s", what, exc_info=True)
                return True


def form_checkout_wait(request: HttpRequest) -> int | None:
    """Counts a checkout of the storefront's form against its client, as the API's throttle
    counts the API's: None if it may go ahead, else the seconds to wait (``Retry-After``)."""
    throttle = CheckoutRateThrottle()
    if throttle.allow_request(Request(request), APIView()):
        return None
    return max(1, math.ceil(throttle.wait() or 0))


def form_checkout_refusal(wait: int) -> str:
    """What the storefront tells a customer whose checkout was refused for the rate."""
    return (
        "Too many checkouts from your address in a short time, so this one was not placed "
        f"(nothing was charged; your cart is kept). Please try again in {wait} seconds."
    )
