"""The checkout's rate limit: each client (its address) may place ``SHOP_CHECKOUT_RATE``
checkouts; beyond it the checkout answers 429 with ``Retry-After``.

The counters live in the cache (Redis in a deployment, config/settings.py), so every worker
and host counts one client together. A cache that does not answer lets the checkout through:
the throttle guards the shop against floods, and must not turn a Redis outage into a shop
outage (an order placed then is still kept by the outbox until the broker is back).
"""

from __future__ import annotations

import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class CheckoutRateThrottle(SimpleRateThrottle):
    """Checkouts per client address, at the rate the settings give when the request comes
    (DRF's scoped throttles read their rates once, at import)."""

    scope = "checkout"

    def get_rate(self) -> str:
        return settings.SHOP_CHECKOUT_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("checkout throttle: the cache did not answer; checkout let through", exc_info=True)
            return True
